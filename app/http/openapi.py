"""The OpenAPI 3.1 description of the HTTP API, served at GET /openapi.json.

Request bodies come from the same `BodySpec`s that validate requests. Each operation names the
roles that serve it, so the api and the worker each publish exactly their own routes; a test
holds every role's routes and its document against each other, both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, jsonify

from app.agents import idempotency
from app.agents.handoffs import QUEUE_LIMIT
from app.agents.sessions import CURSOR_PATTERN, DEFAULT_PAGE, MAX_PAGE, WINDOW
from app.http.access import CUSTOMERS, PUBLIC, PUSH, STAFF, public
from app.http.bodies import DEV_TOKEN, FAQ_SEARCH, NEW_INQUIRY, NEW_MESSAGE, NEW_SESSION
from app.http.live import MAX_SEQ
from app.http.problems import PROBLEM_MIMETYPE
from app.http.pubsub import PUSH_ENVELOPE
from app.http.staff import STAFF_REPLY
from app.http.validation import IDEMPOTENCY_KEY_HEADER, BodySpec

API, WORKER = "api", "worker"
BOTH = (API, WORKER)

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
@public
def openapi_json():
    return jsonify(current_app.extensions["openapi"])


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


STRING = {"type": "string"}
TIMESTAMP = {"type": "string", "format": "date-time"}
OBJECT = {"type": "object"}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference"},
            "title": STRING,
            "status": {"type": "integer"},
            "detail": STRING,
            "instance": STRING,
            "field": {"type": "string", "description": "The request member that is wrong"},
            "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        },
    },
    "Health": _obj(["status", "role"], status={"const": "ok"}, role={"enum": list(BOTH)}),
    "Readiness": _obj(
        ["status", "checks"],
        status={"const": "ready"},
        checks={"type": "object", "additionalProperties": {"type": "boolean"}},
    ),
    "FaqHit": _obj(
        ["id", "question", "answer", "score"],
        id=STRING,
        question=STRING,
        answer=STRING,
        score={"type": "number"},
    ),
    "FaqResults": _obj(["results"], results={"type": "array", "items": _ref("FaqHit")}),
    "Message": _obj(
        ["id", "seq", "role", "text", "created_at"],
        id=STRING,
        seq={"type": "integer", "minimum": 1},
        role={
            "enum": ["customer", "agent", "staff", "system"],
            "description": "system: an inquiry's result, or a notice such as the end of a"
            ' handoff; staff: a team member (`data` is {"author": "team"}, unnamed)',
        },
        text=STRING,
        route={
            "type": ["string", "null"],
            "enum": ["faq", "session", "inquiry", "handoff", None],
        },
        data={
            "type": "object",
            "description": "A message that changes the handoff state carries `handoff`, the"
            " new state (waiting, joined or none)",
        },
        created_at=TIMESTAMP,
    ),
    "Handoff": _obj(
        ["state", "since"],
        state={
            "enum": ["none", "waiting", "joined"],
            "description": "Who holds the conversation: the assistant (none), nobody yet"
            " because the customer asked for a person (waiting), or a team member (joined)",
        },
        since={
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When the conversation entered this state; null with none",
        },
    ),
    "Session": _obj(
        ["id", "customer_id", "preferences", "created_at", "expires_at", "handoff"],
        id=STRING,
        customer_id=STRING,
        preferences=OBJECT,
        created_at=TIMESTAMP,
        expires_at=TIMESTAMP,
        handoff=_ref("Handoff"),
        messages={
            "type": "array",
            "items": _ref("Message"),
            "maxItems": WINDOW,
            "description": f"The latest messages (at most {WINDOW}), oldest first",
        },
        older={
            "type": ["string", "null"],
            "format": "uri-reference",
            "description": "The page of messages before these (GET it); null when none",
        },
    ),
    "MessagePage": _obj(
        ["messages", "older"],
        messages={"type": "array", "items": _ref("Message"), "description": "Oldest first"},
        older={
            "type": ["string", "null"],
            "format": "uri-reference",
            "description": "The page before this one; null at the session's first message",
        },
    ),
    "TurnOutcome": _obj(
        ["reply", "route", "source", "intent", "message"],
        reply={
            "oneOf": [_ref("Message"), {"type": "null"}],
            "description": "The agent's reply; null while a person holds the conversation"
            " (handoff waiting or joined): the message is stored for them",
        },
        message=_ref("Message"),
        route={
            "enum": ["faq", "session", "inquiry", "handoff"],
            "description": "Which agent answered: the FAQ, the support agent, a new inquiry,"
            " or a request for a person",
        },
        source={
            "type": "string",
            "description": "What answered: an FAQ entry id (no_match for none), a flow step"
            " such as return:confirm, or the kind of the inquiry opened",
        },
        intent={"type": "string", "description": "What the turn was understood as"},
        inquiry_id={"type": "string", "description": "Set when the turn opened an inquiry"},
    ),
    "Inquiry": _obj(
        ["id", "kind", "details", "status", "attempts", "created_at", "updated_at"],
        id=STRING,
        kind=STRING,
        details=OBJECT,
        status={"enum": ["queued", "running", "succeeded", "failed"]},
        attempts={"type": "integer", "minimum": 0},
        session_id={"type": ["string", "null"]},
        created_at=TIMESTAMP,
        updated_at=TIMESTAMP,
        result=OBJECT,
        error=STRING,
    ),
    "HousekeepingSummary": _obj(
        ["republished", "republish_failed", "purged", "stale_queued", "handoffs_waiting_too_long"],
        republished={
            "type": "integer",
            "minimum": 0,
            "description": "Inquiries whose earlier publish had failed, published now",
        },
        republish_failed={
            "type": "integer",
            "minimum": 0,
            "description": "1 when a republish failed again (the pass then answers 503)",
        },
        purged={
            "type": "integer",
            "minimum": 0,
            "description": "Expired sessions, messages, inquiries and records deleted",
        },
        stale_queued={
            "type": "integer",
            "minimum": 0,
            "description": "Inquiries still queued longer than STALE_QUEUED_AFTER_SECONDS",
        },
        handoffs_waiting_too_long={
            "type": "integer",
            "minimum": 0,
            "description": "Conversations waiting for a person (no team member joined) longer"
            " than HANDOFF_WAIT_ALERT_SECONDS",
        },
    ),
    "QueuedHandoff": _obj(
        ["session_id", "customer_id", "state", "since", "waiting_seconds"],
        session_id=STRING,
        customer_id=STRING,
        state={"enum": ["waiting", "joined"]},
        since=TIMESTAMP,
        waiting_seconds={
            "type": "integer",
            "minimum": 0,
            "description": "Seconds since the conversation entered its state",
        },
    ),
    "HandoffQueue": _obj(
        ["handoffs"],
        handoffs={
            "type": "array",
            "items": _ref("QueuedHandoff"),
            "maxItems": QUEUE_LIMIT,
            "description": "Waiting ones first, the longest waiting first; then the joined ones",
        },
    ),
    "StaffMessage": _obj(["message"], message=_ref("Message")),
}
SCHEMAS["WebConfig"] = _obj(
    ["auth", "demo"],
    auth=_obj(
        ["mode", "firebase"],
        mode={"enum": ["local", "identity_platform"]},
        firebase={
            "description": "Identity Platform's public config for the Firebase Auth SDK; null"
            " in local mode, or when WEB_API_KEY is not set",
            "oneOf": [
                _obj(
                    ["apiKey", "authDomain", "projectId"],
                    apiKey=STRING,
                    authDomain=STRING,
                    projectId=STRING,
                ),
                {"type": "null"},
            ],
        },
    ),
    demo={
        "description": "Local mode only (else null): who POST /dev/token signs in",
        "oneOf": [
            _obj(
                ["customers", "staff"],
                customers={"type": "array", "items": STRING},
                staff={"type": "array", "items": STRING},
            ),
            {"type": "null"},
        ],
    },
)
SCHEMAS[STAFF_REPLY.name] = STAFF_REPLY.schema()
SCHEMAS["DevTokenIssued"] = _obj(
    ["token", "expires_in"],
    token={"type": "string", "description": "An RS256 ID token: send it as Bearer"},
    expires_in={"type": "integer", "description": "Seconds until it expires"},
)
for spec in (FAQ_SEARCH, NEW_SESSION, NEW_MESSAGE, NEW_INQUIRY, DEV_TOKEN, PUSH_ENVELOPE):
    SCHEMAS[spec.name] = spec.schema()

_PROBLEM_REASONS = {
    400: "Malformed request body",
    401: "Missing or invalid bearer token; `detail` names the check that failed",
    403: "The token is valid but its account may not do this (for example an account not"
    " linked to a customer, or a staff account on a customer route)",
    404: "Unknown resource",
    405: "Method not allowed on this path",
    409: "Idempotency-Key reused with a different request, or (a turn) the session holds"
    " SESSION_MAX_MESSAGES messages: start a new session, or (staff) the conversation's handoff"
    " state does not allow the action (`field` is handoff)",
    413: "Request body over the size limit",
    415: "Content-Type is not application/json",
    422: "A field is missing, of the wrong type or not allowed; `field` names it",
    500: "Unexpected error (logged, no details)",
    503: "A backend does not answer; retry after Retry-After seconds",
}
_BODY_ERRORS = (400, 413, 415, 422)
_ALWAYS = (405, 500, 503)

# The limits the agents check a key with (app/agents/idempotency.py), published as they are.
IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_KEY_HEADER,
    "in": "header",
    "required": False,
    "description": "A retry with the same key returns the first answer and creates nothing"
    ' twice. Sent bare or as an RFC 8941 string ("key"); the limits apply to the key itself',
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": idempotency.KEY_MAX_LENGTH,
        "pattern": idempotency.KEY_PATTERN,
    },
}


def _id_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


# Who may call an operation (app.http.access) -> its OpenAPI security requirement.
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    PUBLIC: [],
    CUSTOMERS: [{"bearerAuth": []}],
    STAFF: [{"bearerAuth": []}],
    PUSH: [{"pubsubOidc": []}],
}
_AUTH_ERRORS = {PUBLIC: (), CUSTOMERS: (401, 403), STAFF: (401, 403), PUSH: (401,)}


@dataclass(frozen=True)
class Operation:
    path: str  # OpenAPI style: /v1/sessions/{session_id}
    method: str
    roles: tuple[str, ...]
    operation_id: str
    summary: str
    ok_status: int
    ok_schema: str | None
    access: str  # who may call it, as the view declares (app.http.access)
    body: BodySpec | None = None
    errors: tuple[int, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    ok_headers: tuple[str, ...] = ()
    local_tokens_only: bool = False  # served only with AUTH_MODE=local
    extra: dict[str, Any] = field(default_factory=dict)
    ok_media: str | None = None  # the media type of a success that is not JSON (a page, a file)
    # The success as server-sent events too (asked for with Accept: text/event-stream): what
    # the stream holds, described.
    ok_stream: str | None = None

    def document(self) -> dict[str, Any]:
        responses: dict[str, Any] = {str(self.ok_status): self._ok_response()}
        statuses = set(self.errors) | set(_ALWAYS) | (set(_BODY_ERRORS) if self.body else set())
        statuses |= set(_AUTH_ERRORS[self.access])
        for status in sorted(statuses):
            responses[str(status)] = {
                "description": _PROBLEM_REASONS[status],
                "content": {PROBLEM_MIMETYPE: {"schema": _ref("Problem")}},
            }
        operation: dict[str, Any] = {
            "operationId": self.operation_id,
            "summary": self.summary,
            "responses": responses,
            "security": _SECURITY[self.access],
            **self.extra,
        }
        if self.parameters:
            operation["parameters"] = list(self.parameters)
        if self.body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(self.body.name)}},
            }
        return operation

    def _ok_response(self) -> dict[str, Any]:
        response: dict[str, Any] = {"description": "OK"}
        if self.ok_schema:
            response["content"] = {"application/json": {"schema": _ref(self.ok_schema)}}
        elif self.ok_media:
            response["content"] = {self.ok_media: {"schema": {"type": "string"}}}
        if self.ok_stream:
            stream = {"schema": {"type": "string", "description": self.ok_stream}}
            response.setdefault("content", {})[EVENT_STREAM] = stream
        headers = {name: {"schema": {"type": "string"}} for name in self.ok_headers}
        if headers:
            response["headers"] = headers
        return response


EVENT_STREAM = "text/event-stream"
LIVE_EVENTS = (
    "First `retry: 1000`; then each message as `id: <seq>`, `event: message`, `data: <Message"
    " JSON>`, in seq order, once; a `: keep-alive` comment every LIVE_HEARTBEAT_SECONDS. The"
    " server ends the stream after LIVE_STREAM_MAX_SECONDS (reconnect with Last-Event-ID); 503"
    " with Retry-After when the instance holds LIVE_MAX_STREAMS streams"
)
STREAMED_TURN = (
    'With Accept: text/event-stream: `event: delta` `data: {"text": <piece>}` as the reply'
    " is worded, then `event: turn` with the TurnOutcome JSON (the reply as stored: it wins"
    " over the pieces); an error after the stream began is `event: error` with the Problem"
)
RESUME_PARAMETERS = (
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        # A string as the event-stream format defines the header; what it must hold is said
        # here, not as schema limits: a probe of them would open a stream per value.
        "description": "The seq of the last message the client has (the `id:` of its last"
        f" event), from 0 to {MAX_SEQ}: the stream starts after it; 422 otherwise",
        "schema": {"type": "string"},
    },
    {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "As Last-Event-ID, for clients that cannot send it (the header wins)",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_SEQ},
    },
)


# `before` and `limit` of a page of messages (a customer's, or the staff's view of any).
PAGE_PARAMETERS = (
    {
        "name": "before",
        "in": "query",
        "required": False,
        "description": "An opaque cursor from an `older` link",
        "schema": {"type": "string", "pattern": CURSOR_PATTERN},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE,
            "default": DEFAULT_PAGE,
        },
    },
)

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
