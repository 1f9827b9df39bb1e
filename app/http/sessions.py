"""The stateful support agent's sessions and the hybrid router's conversation endpoint.

Customers only: a session belongs to the customer of the token that opened it, and any other
caller gets exactly the 404 of a session that does not exist. A session is shown with its
latest messages; `older` links to the page before them, and each page to the one before it.
A turn asked for with `Accept: text/event-stream` is answered as events (app/http/turn_stream.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from app.domain.errors import Forbidden
from app.domain.records import MessagePage, TurnOutcome
from app.http.access import current_customer, customers_only
from app.http.bodies import NEW_MESSAGE, NEW_SESSION
from app.http.context import resource_id, services
from app.http.request_log import TURN_ENVIRON_KEY
from app.http.streaming import wants_event_stream
from app.http.turn_stream import stream_turn
from app.http.validation import idempotency_key, json_body

blueprint = Blueprint("sessions", __name__, url_prefix="/v1/sessions")


@blueprint.post("")
@customers_only
def create_session() -> ResponseReturnValue:
    body = json_body(NEW_SESSION)
    customer_id = current_customer()
    if body["customer_id"] is not None and body["customer_id"] != customer_id:
        raise Forbidden(
            "customer_id: must be the signed-in customer (or left out: the token names it)",
            field="customer_id",
        )
    session = services().sessions.create(customer_id, body["preferences"])
    response = jsonify({**session.as_dict(messages=[]), "older": None})
    response.status_code = 201
    response.headers["Location"] = url_for(".get_session", session_id=session.id)
    return response


@blueprint.get("/<session_id>")
@customers_only
def get_session(session_id: str) -> ResponseReturnValue:
    session, page = services().sessions.get(
        resource_id(session_id, "session"), customer_id=current_customer()
    )
    return jsonify({**session.as_dict(messages=page.messages), "older": _older(session.id, page)})


@blueprint.get("/<session_id>/messages")
@customers_only
def list_messages(session_id: str) -> ResponseReturnValue:
    session_id = resource_id(session_id, "session")
    limit = request.args.get("limit")
    page = services().sessions.messages(
        session_id, request.args.get("before"), limit, customer_id=current_customer()
    )
    return jsonify(
        {"messages": [m.as_dict() for m in page.messages], "older": _older(session_id, page, limit)}
    )


def _older(session_id: str, page: MessagePage, limit: str | None = None) -> str | None:
    """The URL of the page before `page` (keeping the caller's page size), None at the start."""
    if page.older is None:
        return None
    return url_for(".list_messages", session_id=session_id, before=page.older, limit=limit)


@blueprint.post("/<session_id>/messages")
@customers_only
def post_message(session_id: str) -> ResponseReturnValue:
    session_id = resource_id(session_id, "session")
    key = idempotency_key(request.headers)
    body = json_body(NEW_MESSAGE)
    conversation, customer_id = services().conversation, current_customer()
    if wants_event_stream():  # the reply as it is worded, then the turn (app/http/turn_stream.py)
        return stream_turn(
            lambda on_text: conversation.post_message(
                session_id, body["text"], key, customer_id=customer_id, on_text=on_text
            ),
            _turn_body,
        )
    outcome = conversation.post_message(session_id, body["text"], key, customer_id=customer_id)
    # Which agent answered and from what, for the request log line (routing is debuggable
    # from the logs alone; the customer's words never are logged).
    request.environ[TURN_ENVIRON_KEY] = (outcome.route.value, outcome.source, outcome.intent)
    return jsonify(_turn_body(outcome))


def _turn_body(outcome: TurnOutcome) -> dict[str, Any]:
    """A turn's answer: the JSON body, and the data of a streamed turn's `turn` event."""
    return outcome.as_dict()
