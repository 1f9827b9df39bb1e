"""Worker endpoints that a scheduler calls: `POST /tasks/housekeeping`.

Why an endpoint: on Cloud Run the worker has CPU only while it serves a request (cpu_idle) and
dev scales to zero, so a background thread cannot be trusted to republish an inquiry whose
publish failed. Cloud Scheduler calls this endpoint every few minutes instead, as the push
service account, and the request itself does one housekeeping pass.

Authenticated exactly like the Pub/Sub push endpoint (same verifier, same identity), so the
worker has one caller to trust. Answers 200 with what the pass did; a backend that does not
answer is a 503 (`app.errors.Unavailable`), which the scheduler records and retries.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.http.access import push_identity
from app.http.context import services
from app.http.push_auth import refuse_unless_push_identity

blueprint = Blueprint("tasks", __name__, url_prefix="/tasks")


@blueprint.post("/housekeeping")
@push_identity
def run_housekeeping():
    refused = refuse_unless_push_identity("tasks")
    if refused is not None:
        return refused
    return jsonify(services().housekeeping())
