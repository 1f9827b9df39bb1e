"""The worker's Pub/Sub push endpoint: one delivery of one inquiry per request.

Pub/Sub treats 102, 200, 201, 202 and 204 as an acknowledgement and anything else as a
negative one that it redelivers with backoff until the subscription's maximum attempts, after
which the message goes to the dead-letter topic. Pub/Sub should retry only what can succeed
later, so: 204 when the worker acks, 503 with Retry-After when it asks for a retry (a backend
down, a lease held elsewhere), 401 for a caller that is not the push identity (a key rotation
can fix that), and 204 as well for a message that no retry can ever make processable. That
one is not dropped silently: an ERROR line with event="pubsub.unprocessable" carries its id,
subscription, reason and the start of its data, to find and replay it in Logs Explorer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from app.domain.errors import InvalidInput
from app.domain.records import Delivery, DeliveryResult
from app.http.access import push_identity
from app.http.context import services
from app.http.problems import problem
from app.http.push_auth import refuse_unless_push_identity
from app.http.validation import BodySpec, Field, json_body
from app.logs.setup import log_event

log = logging.getLogger(__name__)

blueprint = Blueprint("pubsub", __name__, url_prefix="/pubsub")
RETRY_AFTER_SECONDS = 10
MAX_INQUIRY_ID_LENGTH = 128
LOGGED_DATA_CHARS = 1024  # enough to replay an inquiry message, bounded for a hostile body

PUSH_ENVELOPE = BodySpec(
    "PushEnvelope",
    [
        Field("message", dict, description="The Pub/Sub message"),
        Field("subscription", str, required=False, max_length=512),
        Field("deliveryAttempt", int, required=False, default=1, minimum=1, maximum=1000),
    ],
    open_ended=True,
)


class BadEnvelope(InvalidInput):
    """A push body that is JSON but not a delivery of an inquiry."""

    status = 400
    title = "Bad Request"


@blueprint.post("/inquiries")
@push_identity
def push_inquiry() -> ResponseReturnValue:
    refused = refuse_unless_push_identity("pubsub-push")
    if refused is not None:
        return refused
    try:
        delivery = parse_push_envelope(_envelope())
    except (BadEnvelope, BadRequest, UnsupportedMediaType) as error:
        _record_unprocessable(getattr(error, "detail", None) or str(error))
        return Response(status=204)
    result = services().worker.handle(delivery)
    if DeliveryResult(result) is DeliveryResult.ACK:
        return Response(status=204)
    return problem(
        503,
        f"Inquiry {delivery.inquiry_id} could not be processed now; redeliver it later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _record_unprocessable(reason: str) -> None:
    """Log a push that can never be processed, with what it takes to find or replay it."""
    body = request.get_json(silent=True)
    message = body.get("message") if isinstance(body, dict) else None
    message = message if isinstance(message, dict) else {}
    raw = request.get_data(as_text=True)
    fields = {
        "event": "pubsub.unprocessable",
        "reason": reason[:300],
        "message_id": str(message.get("messageId", ""))[:128],
        "subscription": str(body.get("subscription", ""))[:512] if isinstance(body, dict) else "",
        "data": str(message.get("data", raw))[:LOGGED_DATA_CHARS],
    }
    log_event(log, logging.ERROR, "acknowledged a push that can never be processed", fields)


def _envelope() -> dict[str, Any]:
    try:
        return json_body(PUSH_ENVELOPE)
    except InvalidInput as error:
        raise BadEnvelope(error.detail, field=error.field) from None


def parse_push_envelope(envelope: dict[str, Any]) -> Delivery:
    """The Delivery in a push envelope; BadEnvelope names the member that is wrong."""
    message = envelope["message"]
    message_id = message.get("messageId", message.get("message_id"))
    if not isinstance(message_id, str) or not message_id:
        raise BadEnvelope("message.messageId: is required and must be a string", field="message")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise BadEnvelope("message.data: is required and must be base64 text", field="message")
    try:
        payload = json.loads(base64.b64decode(data, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise BadEnvelope(
            'message.data: must be base64 of a JSON object {"inquiry_id": "..."}', field="message"
        ) from None
    inquiry_id = payload.get("inquiry_id") if isinstance(payload, dict) else None
    if (
        not isinstance(inquiry_id, str)
        or not inquiry_id.strip()
        or len(inquiry_id) > MAX_INQUIRY_ID_LENGTH
        or not inquiry_id.isprintable()
    ):
        raise BadEnvelope(
            "message.data: inquiry_id must be a non-empty string of at most "
            f"{MAX_INQUIRY_ID_LENGTH} characters",
            field="message",
        )
    return Delivery(
        inquiry_id=inquiry_id, message_id=message_id, attempt=envelope["deliveryAttempt"]
    )
