"""The schemas of the OpenAPI document (`components.schemas`): records, answers and the
request bodies of the same `BodySpec`s that validate requests."""

from __future__ import annotations

from typing import Any

from app.agents.handoffs import QUEUE_LIMIT
from app.agents.sessions import WINDOW
from app.http.bodies import DEV_TOKEN, FAQ_SEARCH, NEW_INQUIRY, NEW_MESSAGE, NEW_SESSION
from app.http.pubsub import PUSH_ENVELOPE
from app.http.staff import STAFF_REPLY

API, WORKER = "api", "worker"
BOTH = (API, WORKER)


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
