"""The OpenAPI 3.1 description of the HTTP API, served at GET /openapi.json.

Request bodies come from the same `BodySpec`s that validate requests. Each operation names the
roles that serve it, so the api and the worker each publish exactly their own routes; a test
holds every role's routes and its document against each other, both ways.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from app.agents.handoffs import QUEUE_LIMIT
from app.agents.sessions import WINDOW
from app.http.access import CUSTOMERS, PUBLIC, PUSH, STAFF, public
from app.http.bodies import DEV_TOKEN, FAQ_SEARCH, NEW_INQUIRY, NEW_MESSAGE, NEW_SESSION
from app.http.openapi_operation import (
    EVENT_STREAM,
    IDEMPOTENCY_PARAMETER,
    LIVE_EVENTS,
    PAGE_PARAMETERS,
    RESUME_PARAMETERS,
    STREAMED_TURN,
    Operation,
    _id_parameter,
)
from app.http.openapi_schemas import API, BOTH, SCHEMAS, WORKER
from app.http.pubsub import PUSH_ENVELOPE
from app.http.staff import STAFF_REPLY

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
@public
def openapi_json() -> ResponseReturnValue:
    return jsonify(current_app.extensions["openapi"])


OPERATIONS: tuple[Operation, ...] = (
    Operation("/healthz", "get", BOTH, "healthz", "Liveness", 200, "Health", PUBLIC),
    Operation(
        "/readyz", "get", BOTH, "readyz", "Readiness of every backend", 200, "Readiness", PUBLIC
    ),
    Operation("/openapi.json", "get", BOTH, "openapi", "This document", 200, None, PUBLIC),
    Operation(
        "/v1/faq/search",
        "post",
        (API,),
        "searchFaq",
        "Stateless FAQ search (BM25), best matches first; public, holds no personal data",
        200,
        "FaqResults",
        PUBLIC,
        body=FAQ_SEARCH,
    ),
    Operation(
        "/v1/sessions",
        "post",
        (API,),
        "createSession",
        "Open a support session for the signed-in customer",
        201,
        "Session",
        CUSTOMERS,
        body=NEW_SESSION,
        ok_headers=("Location",),
    ),
    Operation(
        "/v1/sessions/{session_id}",
        "get",
        (API,),
        "getSession",
        f"One of the caller's sessions with its latest messages (at most {WINDOW}), oldest"
        " first, and `older`, the link to the messages before them",
        200,
        "Session",
        CUSTOMERS,
        errors=(404,),
        parameters=(_id_parameter("session_id"),),
    ),
    Operation(
        "/v1/sessions/{session_id}/messages",
        "get",
        (API,),
        "listMessages",
        "A page of one of the caller's sessions' messages, oldest first: the `limit` before"
        " the cursor `before` (from an `older` link), the latest without one. Paging back from"
        " any page returns every older message once, while new ones arrive too",
        200,
        "MessagePage",
        CUSTOMERS,
        errors=(404, 422),
        parameters=(_id_parameter("session_id"), *PAGE_PARAMETERS),
    ),
    Operation(
        "/v1/sessions/{session_id}/messages",
        "post",
        (API,),
        "postMessage",
        "One customer turn, routed to the FAQ agent, the support flow, a new inquiry or a"
        " person (handoff: the session waits for a team member, and a handoff.requested event"
        " is published); while a person is awaited or holds the conversation, the message is"
        " stored for them and `reply` is null",
        200,
        "TurnOutcome",
        CUSTOMERS,
        body=NEW_MESSAGE,
        errors=(404, 409),
        parameters=(_id_parameter("session_id"), IDEMPOTENCY_PARAMETER),
        ok_stream=STREAMED_TURN,
    ),
    Operation(
        "/v1/staff/handoffs",
        "get",
        (API,),
        "listHandoffs",
        "Staff: the conversations waiting for a person (longest waiting first), then those a"
        f" team member holds; at most {QUEUE_LIMIT}",
        200,
        "HandoffQueue",
        STAFF,
    ),
    Operation(
        "/v1/staff/sessions/{session_id}",
        "get",
        (API,),
        "staffGetSession",
        f"Staff: any customer's session with its latest messages (at most {WINDOW}) and"
        " `older`, as the customer's own GET shows it",
        200,
        "Session",
        STAFF,
        errors=(404,),
        parameters=(_id_parameter("session_id"),),
    ),
    Operation(
        "/v1/staff/sessions/{session_id}/messages",
        "get",
        (API,),
        "staffListMessages",
        "Staff: a page of any customer's session's messages, as the customer's own route"
        " pages them",
        200,
        "MessagePage",
        STAFF,
        errors=(404, 422),
        parameters=(_id_parameter("session_id"), *PAGE_PARAMETERS),
    ),
    Operation(
        "/v1/staff/sessions/{session_id}/messages",
        "post",
        (API,),
        "staffReply",
        "Staff: reply in a conversation handed to a person (role staff, shown to the customer"
        " as the team's); the first reply joins a waiting one (its `data.handoff` is joined)."
        " 409 when the assistant holds the conversation",
        201,
        "StaffMessage",
        STAFF,
        body=STAFF_REPLY,
        errors=(404, 409),
        parameters=(_id_parameter("session_id"), IDEMPOTENCY_PARAMETER),
        ok_headers=("Idempotent-Replayed",),
    ),
    Operation(
        "/v1/staff/sessions/{session_id}/release",
        "post",
        (API,),
        "staffRelease",
        "Staff: return the conversation to the assistant (handoff none), with a notice to the"
        " customer (a system message whose `data.handoff` is none). 409 when it is with the"
        " assistant already",
        200,
        "Session",
        STAFF,
        errors=(404, 409),
        parameters=(_id_parameter("session_id"),),
    ),
    Operation(
        "/v1/inquiries",
        "post",
        (API,),
        "createInquiry",
        "Accept an inquiry for background work on the caller's own orders, sessions or account"
        " (refund_review, account_export: the data export); answers at once",
        202,
        "Inquiry",
        CUSTOMERS,
        body=NEW_INQUIRY,
        errors=(404, 409),
        parameters=(IDEMPOTENCY_PARAMETER,),
        ok_headers=("Location", "Idempotent-Replayed"),
    ),
    Operation(
        "/v1/inquiries/{inquiry_id}",
        "get",
        (API,),
        "getInquiry",
        "One of the caller's inquiries: its status and, when done, its result or error",
        200,
        "Inquiry",
        CUSTOMERS,
        errors=(404,),
        parameters=(_id_parameter("inquiry_id"),),
    ),
    Operation(
        "/pubsub/inquiries",
        "post",
        (WORKER,),
        "pushInquiry",
        "Pub/Sub push delivery of one inquiry (204 acknowledges, 503 asks for redelivery)",
        204,
        None,
        PUSH,
        body=PUSH_ENVELOPE,
    ),
    Operation(
        "/tasks/housekeeping",
        "post",
        (WORKER,),
        "runHousekeeping",
        "One housekeeping pass: publish inquiries whose publish failed, purge expired state"
        " (Cloud Scheduler calls it as the push service account)",
        200,
        "HousekeepingSummary",
        PUSH,
    ),
    Operation(
        "/v1/customers/me/data",
        "delete",
        (API,),
        "eraseMyData",
        "Erase the caller's sessions, messages, inquiries and cached copies in the background"
        " (the right to erasure); the erasure inquiry's result counts what was deleted. Orders"
        " are kept, as the law requires",
        202,
        "Inquiry",
        CUSTOMERS,
        ok_headers=("Location",),
    ),
    Operation(
        "/",
        "get",
        (API,),
        "chatPage",
        "The customer's chat page (HTML); public and the same for everyone: it shows nothing"
        " until the api accepts the token its script sends",
        200,
        None,
        PUBLIC,
        ok_media="text/html",
    ),
    Operation(
        "/staff",
        "get",
        (API,),
        "staffConsole",
        "The support team's console (HTML); public and the same for everyone: the staff API"
        " behind it answers staff tokens only",
        200,
        None,
        PUBLIC,
        ok_media="text/html",
    ),
    Operation(
        "/static/{filename}",
        "get",
        (API,),
        "staticFile",
        "A file of the pages (script, style sheet, sign-in bundle); cached for a year when `v`"
        " is the file's current digest (the pages link them so), revalidated otherwise",
        200,
        None,
        PUBLIC,
        errors=(404,),
        parameters=(
            _id_parameter("filename"),
            {"name": "v", "in": "query", "required": False, "schema": {"type": "string"}},
        ),
        ok_media="application/octet-stream",
    ),
    Operation(
        "/v1/web-config",
        "get",
        (API,),
        "getWebConfig",
        "How the pages sign people in: the mode, Identity Platform's public config in"
        " production, the demo customers and staff members in local mode",
        200,
        "WebConfig",
        PUBLIC,
    ),
    Operation(
        "/v1/sessions/{session_id}/events",
        "get",
        (API,),
        "sessionEvents",
        "Live: one of the caller's sessions' new messages as server-sent events, from the"
        " resume point on (Last-Event-ID, else `after`, else only new ones). " + LIVE_EVENTS,
        200,
        None,
        CUSTOMERS,
        errors=(404, 422),
        parameters=(_id_parameter("session_id"), *RESUME_PARAMETERS),
        ok_media=EVENT_STREAM,
    ),
    Operation(
        "/v1/staff/sessions/{session_id}/events",
        "get",
        (API,),
        "staffSessionEvents",
        "Live, for the support team: any customer's session's new messages as server-sent"
        " events, as the customer's stream has them. " + LIVE_EVENTS,
        200,
        None,
        STAFF,
        errors=(404, 422),
        parameters=(_id_parameter("session_id"), *RESUME_PARAMETERS),
        ok_media=EVENT_STREAM,
    ),
    Operation(
        "/dev/token",
        "post",
        (API,),
        "mintDevToken",
        "AUTH_MODE=local only: a token for a demo customer or staff member",
        200,
        "DevTokenIssued",
        PUBLIC,
        body=DEV_TOKEN,
        local_tokens_only=True,
    ),
)


def openapi_document(role: str, *, local_tokens: bool = False) -> dict[str, Any]:
    """The document of the routes that `role` serves (`/dev/token` with `local_tokens`)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        if role in operation.roles and (local_tokens or not operation.local_tokens_only):
            paths.setdefault(operation.path, {})[operation.method] = operation.document()
    components: dict[str, Any] = {"schemas": SCHEMAS}
    if role == API:
        components["securitySchemes"] = {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An Identity Platform ID token of the environment's project (a"
                " local issuer's token with AUTH_MODE=local: POST /dev/token)",
            }
        }
    if role == WORKER:
        components["securitySchemes"] = {
            "pubsubOidc": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "Google-signed OIDC token of the push service account"
                " (sent by Pub/Sub pushes and Cloud Scheduler jobs)",
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Agent platform reference app ({role})",
            "version": "1.0.0",
            "description": "A customer-service platform mixing stateless, stateful and "
            "event-driven agents. Errors are application/problem+json (RFC 9457).",
        },
        "paths": paths,
        "components": components,
    }
