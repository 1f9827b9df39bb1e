"""Worker endpoints that a scheduler calls: `POST /tasks/housekeeping`.

Why an endpoint: on Cloud Run the worker has CPU only while it serves a request (cpu_idle) and
dev scales to zero, so a background thread cannot be trusted to republish an inquiry whose
publish failed. Cloud Scheduler calls this endpoint every few minutes instead, as the push
service account, and the request itself does one housekeeping pass.

Authenticated exactly like the Pub/Sub push endpoint (same verifier, same identity), so the
worker has one caller to trust. Answers 200 with what the pass did. A republish that failed
again is a 503 with Retry-After whose problem+json body still carries the pass's counts: a 200
would tell Cloud Scheduler the run succeeded, so it would not retry, and the worker's 5xx alert
would never hear of an inquiry stuck unpublished. A backend that does not answer is a 503 too
(`app.domain.errors.Unavailable`), which the scheduler records and retries likewise.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from app.agents.inquiries import REQUEUE_AFTER
from app.http.access import push_identity
from app.http.context import services
from app.http.problems import problem
from app.http.push_auth import refuse_unless_push_identity

blueprint = Blueprint("tasks", __name__, url_prefix="/tasks")
# An inquiry is republished once its first publish has had this long to land.
RETRY_AFTER_SECONDS = int(REQUEUE_AFTER.total_seconds())


@blueprint.post("/housekeeping")
@push_identity
def run_housekeeping() -> Response:
    refused = refuse_unless_push_identity("tasks")
    if refused is not None:
        return refused
    summary = services().housekeeping()
    if summary.get("republish_failed"):
        counts: dict[str, Any] = dict(summary)
        return problem(
            503,
            "An inquiry whose publish had failed could not be published again; the queue does"
            " not take messages now. The inquiry stays stored and the next pass retries it.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            **counts,
        )
    return jsonify(summary)
