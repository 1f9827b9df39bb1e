"""The stateful support agent's sessions and the hybrid router's conversation endpoint."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from app.http.bodies import NEW_MESSAGE, NEW_SESSION
from app.http.context import resource_id, services
from app.http.validation import idempotency_key, json_body

blueprint = Blueprint("sessions", __name__, url_prefix="/v1/sessions")


@blueprint.post("")
def create_session():
    body = json_body(NEW_SESSION)
    session = services().sessions.create(body["customer_id"], body["preferences"])
    response = jsonify(session.as_dict(messages=[]))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_session", session_id=session.id)
    return response


@blueprint.get("/<session_id>")
def get_session(session_id: str):
    session, messages = services().sessions.get(resource_id(session_id, "session"))
    return jsonify(session.as_dict(messages=messages))


@blueprint.post("/<session_id>/messages")
def post_message(session_id: str):
    session_id = resource_id(session_id, "session")
    key = idempotency_key(request.headers)
    body = json_body(NEW_MESSAGE)
    outcome = services().conversation.post_message(session_id, body["text"], key)
    return jsonify(outcome.as_dict())
