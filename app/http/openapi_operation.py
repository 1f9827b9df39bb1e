"""One operation of the OpenAPI document: its parameters, its answers and the problems it may
answer, by who may call it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.agents import idempotency
from app.agents.sessions import CURSOR_PATTERN, DEFAULT_PAGE, MAX_PAGE
from app.http.access import CUSTOMERS, PUBLIC, PUSH, STAFF
from app.http.live import MAX_SEQ
from app.http.openapi_schemas import _ref
from app.http.problems import PROBLEM_MIMETYPE
from app.http.validation import IDEMPOTENCY_KEY_HEADER, BodySpec

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
