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
from app.agents.sessions import CURSOR_PATTERN, DEFAULT_PAGE, MAX_PAGE, WINDOW
from app.http.access import CUSTOMERS, PUBLIC, PUSH, STAFF, public
from app.http.bodies import DEV_TOKEN, FAQ_SEARCH, NEW_INQUIRY, NEW_MESSAGE, NEW_SESSION
from app.http.problems import PROBLEM_MIMETYPE
from app.http.pubsub import PUSH_ENVELOPE
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
        role={"enum": ["customer", "agent", "system"]},
        text=STRING,
        route={
            "type": ["string", "null"],
            "enum": ["faq", "session", "inquiry", "handoff", None],
        },
        data=OBJECT,
        created_at=TIMESTAMP,
    ),
    "Session": _obj(
        ["id", "customer_id", "preferences", "created_at", "expires_at"],
        id=STRING,
        customer_id=STRING,
        preferences=OBJECT,
        created_at=TIMESTAMP,
        expires_at=TIMESTAMP,
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
        ["reply", "route", "source", "intent"],
        reply=_ref("Message"),
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
        ["republished", "republish_failed", "purged", "stale_queued"],
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
    ),
}
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
    " SESSION_MAX_MESSAGES messages: start a new session",
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
        headers = {name: {"schema": {"type": "string"}} for name in self.ok_headers}
        if headers:
            response["headers"] = headers
        return response


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
        parameters=(
            _id_parameter("session_id"),
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
        ),
    ),
    Operation(
        "/v1/sessions/{session_id}/messages",
        "post",
        (API,),
        "postMessage",
        "One customer turn, routed to the FAQ agent, the support flow or a new inquiry",
        200,
        "TurnOutcome",
        CUSTOMERS,
        body=NEW_MESSAGE,
        errors=(404, 409),
        parameters=(_id_parameter("session_id"), IDEMPOTENCY_PARAMETER),
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
