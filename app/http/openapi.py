"""The OpenAPI 3.1 description of the HTTP API, served at GET /openapi.json.

Request bodies come from the same `BodySpec`s that validate requests. Each operation names the
roles that serve it, so the api and the worker each publish exactly their own routes; a test
holds every role's routes and its document against each other, both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, jsonify

from app.http.bodies import FAQ_SEARCH, NEW_INQUIRY, NEW_MESSAGE, NEW_SESSION
from app.http.problems import PROBLEM_MIMETYPE
from app.http.pubsub import PUSH_ENVELOPE
from app.http.validation import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN, BodySpec

API, WORKER = "api", "worker"
BOTH = (API, WORKER)

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
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
        route={"type": ["string", "null"], "enum": ["faq", "session", "inquiry", None]},
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
        messages={"type": "array", "items": _ref("Message"), "description": "Oldest first"},
    ),
    "TurnOutcome": _obj(
        ["reply", "route"],
        reply=_ref("Message"),
        route={"enum": ["faq", "session", "inquiry"]},
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
        ["republished", "purged"],
        republished={
            "type": "integer",
            "minimum": 0,
            "description": "Inquiries whose earlier publish had failed, published now",
        },
        purged={
            "type": "integer",
            "minimum": 0,
            "description": "Expired sessions, messages, inquiries and records deleted",
        },
    ),
}
for spec in (FAQ_SEARCH, NEW_SESSION, NEW_MESSAGE, NEW_INQUIRY, PUSH_ENVELOPE):
    SCHEMAS[spec.name] = spec.schema()

_PROBLEM_REASONS = {
    400: "Malformed request body",
    401: "Missing or invalid push token",
    404: "Unknown resource",
    405: "Method not allowed on this path",
    409: "Idempotency-Key reused with a different request",
    413: "Request body over the size limit",
    415: "Content-Type is not application/json",
    422: "A field is missing, of the wrong type or not allowed; `field` names it",
    500: "Unexpected error (logged, no details)",
    503: "A backend does not answer; retry after Retry-After seconds",
}
_BODY_ERRORS = (400, 413, 415, 422)
_ALWAYS = (405, 500, 503)

IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_KEY_HEADER,
    "in": "header",
    "required": False,
    "description": "A retry with the same key returns the first answer and creates nothing twice",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}


def _id_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


@dataclass(frozen=True)
class Operation:
    path: str  # OpenAPI style: /v1/sessions/{session_id}
    method: str
    roles: tuple[str, ...]
    operation_id: str
    summary: str
    ok_status: int
    ok_schema: str | None
    body: BodySpec | None = None
    errors: tuple[int, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    ok_headers: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        responses: dict[str, Any] = {str(self.ok_status): self._ok_response()}
        statuses = set(self.errors) | set(_ALWAYS) | (set(_BODY_ERRORS) if self.body else set())
        for status in sorted(statuses):
            responses[str(status)] = {
                "description": _PROBLEM_REASONS[status],
                "content": {PROBLEM_MIMETYPE: {"schema": _ref("Problem")}},
            }
        operation: dict[str, Any] = {
            "operationId": self.operation_id,
            "summary": self.summary,
            "responses": responses,
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
    Operation("/healthz", "get", BOTH, "healthz", "Liveness", 200, "Health"),
    Operation("/readyz", "get", BOTH, "readyz", "Readiness of every backend", 200, "Readiness"),
    Operation("/openapi.json", "get", BOTH, "openapi", "This document", 200, None),
    Operation(
        "/v1/faq/search",
        "post",
        (API,),
        "searchFaq",
        "Stateless FAQ search (BM25), best matches first",
        200,
        "FaqResults",
        body=FAQ_SEARCH,
    ),
    Operation(
        "/v1/sessions",
        "post",
        (API,),
        "createSession",
        "Open a support session",
        201,
        "Session",
        body=NEW_SESSION,
        ok_headers=("Location",),
    ),
    Operation(
        "/v1/sessions/{session_id}",
        "get",
        (API,),
        "getSession",
        "A session with its messages, oldest first",
        200,
        "Session",
        errors=(404,),
        parameters=(_id_parameter("session_id"),),
    ),
    Operation(
        "/v1/sessions/{session_id}/messages",
        "post",
        (API,),
        "postMessage",
        "One customer turn, routed to the FAQ agent, the support flow or a new inquiry",
        200,
        "TurnOutcome",
        body=NEW_MESSAGE,
        errors=(404, 409),
        parameters=(_id_parameter("session_id"), IDEMPOTENCY_PARAMETER),
    ),
    Operation(
        "/v1/inquiries",
        "post",
        (API,),
        "createInquiry",
        "Accept an inquiry for background work; answers at once",
        202,
        "Inquiry",
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
        "An inquiry's status and, when done, its result or error",
        200,
        "Inquiry",
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
        body=PUSH_ENVELOPE,
        errors=(401,),
        extra={"security": [{"pubsubOidc": []}]},
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
        errors=(401,),
        extra={"security": [{"pubsubOidc": []}]},
    ),
)


def openapi_document(role: str) -> dict[str, Any]:
    """The document of the routes that `role` serves."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        if role in operation.roles:
            paths.setdefault(operation.path, {})[operation.method] = operation.document()
    components: dict[str, Any] = {"schemas": SCHEMAS}
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
