"""The support team's API: the handoff queue, any customer's conversation, replies and release.

Staff only (`staff_only`): a staff token (`role: staff`) passes, a customer token is 403 and
no token 401, at the gate before any view runs. Every call is logged on one line naming the
action, the session and the caller's pseudonym (never the text, an e-mail or a token), beside
the request log line, so what each team member did with a customer's conversation can be read
back from the logs alone.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from app.agents.conversation import MAX_TEXT_CHARS
from app.domain.records import MessagePage
from app.http.access import current_caller, staff_only
from app.http.context import resource_id, services
from app.http.validation import NOT_BLANK, BodySpec, Field, idempotency_key, json_body
from app.logs.setup import log_event

log = logging.getLogger(__name__)
blueprint = Blueprint("staff", __name__, url_prefix="/v1/staff")

STAFF_REPLY = BodySpec(
    "StaffReply",
    [
        Field(
            "text",
            str,
            min_length=1,
            max_length=MAX_TEXT_CHARS,
            pattern=NOT_BLANK,
            description="A team member's reply; the customer sees it from the team, unnamed",
        )
    ],
)


def _logged(action: str, session_id: str | None = None, **fields: Any) -> None:
    """One line per staff action: who (pseudonym), what, on which conversation."""
    payload: dict[str, Any] = {"event": f"staff.{action}", "caller": current_caller().pseudonym}
    if session_id is not None:
        payload["session_id"] = session_id
    payload.update(fields)
    log_event(log, logging.INFO, f"staff {action}", payload, stacklevel=3)


@blueprint.get("/handoffs")
@staff_only
def list_handoffs() -> ResponseReturnValue:
    queued = services().handoffs.queue()
    _logged("handoffs_listed", count=len(queued))
    return jsonify({"handoffs": [entry.as_dict() for entry in queued]})


@blueprint.get("/sessions/<session_id>")
@staff_only
def get_session(session_id: str) -> ResponseReturnValue:
    session_id = resource_id(session_id, "session")
    session, page = services().handoffs.get(session_id)
    _logged("session_viewed", session.id)
    return jsonify({**session.as_dict(messages=page.messages), "older": _older(session.id, page)})


@blueprint.get("/sessions/<session_id>/messages")
@staff_only
def list_messages(session_id: str) -> ResponseReturnValue:
    session_id = resource_id(session_id, "session")
    limit = request.args.get("limit")
    page = services().handoffs.messages(session_id, request.args.get("before"), limit)
    _logged("messages_viewed", session_id)
    return jsonify(
        {"messages": [m.as_dict() for m in page.messages], "older": _older(session_id, page, limit)}
    )


@blueprint.post("/sessions/<session_id>/messages")
@staff_only
def reply(session_id: str) -> ResponseReturnValue:
    session_id = resource_id(session_id, "session")
    key = idempotency_key(request.headers)
    body = json_body(STAFF_REPLY)
    message, stored_now = services().handoffs.reply(
        session_id, body["text"], key, staff=current_caller().pseudonym
    )
    _logged("replied", session_id, handoff=message.data.get("handoff"), replayed=not stored_now)
    response = jsonify({"message": message.as_dict()})
    response.status_code = 201
    if not stored_now:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blueprint.post("/sessions/<session_id>/release")
@staff_only
def release(session_id: str) -> ResponseReturnValue:
    session_id = resource_id(session_id, "session")
    session = services().handoffs.release(session_id)
    _logged("released", session.id)
    return jsonify(session.as_dict())


def _older(session_id: str, page: MessagePage, limit: str | None = None) -> str | None:
    """The URL of the page before `page` (keeping the caller's page size), None at the start."""
    if page.older is None:
        return None
    return url_for(".list_messages", session_id=session_id, before=page.older, limit=limit)
