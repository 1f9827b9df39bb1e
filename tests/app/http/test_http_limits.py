"""Every limit that /openapi.json documents is the one enforced, at the limit and just past it.

Why: the document and the checks once disagreed (`text` documented up to 4000 characters while
the conversation agent refused more than 2000; `Idempotency-Key` documented up to 255 while the
agents refused more than 200). So this walks each role's own document, not a list of fields,
and a limit added later is tested too: every body member and header parameter with maxLength,
minLength, maximum, minimum, pattern or enum gets values at and just past it, sent through the
real services (app.wiring), where every layer's own check runs.

A value at a limit must be answered exactly as a value well inside the limits is (which may
itself be refused for another reason: a session that does not exist, someone who is not a demo
customer). A value past it must be refused as bad input naming the field, for a reason that the
value inside does not get.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from app.http import create_app
from app.wiring import build_services

CALLER = "C001"
CALLBACK_PREFIX = "https://hooks.example.com/cb/"
BAD_INPUT = (400, 422)  # how the api refuses a body or a header
# How the worker refuses a push envelope: it is acknowledged (204, or Pub/Sub would redeliver it
# forever), not processed, and logged with the reason, which names the field.
NOT_PROCESSED = "204, not processed"
LIMIT_KEYWORDS = {"maxLength", "minLength", "maximum", "minimum", "pattern", "enum"}
# The requests each operation is probed from: one member changes, the rest stays as here.
BASE_BODIES: dict[str, dict[str, Any]] = {
    "searchFaq": {"query": "How long does delivery take?"},
    "createSession": {},
    "postMessage": {"text": "hello"},
    "createInquiry": {"kind": "account_export", "details": {}},
    "mintDevToken": {},  # give exactly one of customer_id and staff_id: the probed one
    # Sent by a staff member to the caller's session, which the assistant holds: inside the
    # limits it is refused with 409 (nothing to reply to), past them as bad input first.
    "staffReply": {"text": "hello"},
    "pushInquiry": {
        "message": {
            "data": base64.b64encode(json.dumps({"inquiry_id": "i-unknown"}).encode()).decode(),
            "messageId": "m-1",
        },
        "deliveryAttempt": 1,
    },
}
# Inserted into a value to probe a pattern. A header carries printable ASCII only (and its
# ends are trimmed, so characters go in the middle); a JSON string carries anything.
HEADER_CHARACTERS = string.punctuation + " aZ0"
BODY_CHARACTERS = HEADER_CHARACTERS + "\t\n\u00a0\u3000é😀"


@dataclass(frozen=True)
class Limited:
    """One documented value of one operation: a body member or a header parameter."""

    role: str
    method: str
    path: str
    operation_id: str
    where: str  # "body" or "header"
    name: str
    schema: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.operation_id} {self.where} {self.name}"


Outcome = tuple[Any, ...]


class Unprocessable(logging.Handler):
    """The reasons the worker logs for the pushes it acknowledges without processing them."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "json_fields", {})
        if fields.get("event") == "pubsub.unprocessable":
            self.reasons.append(fields["reason"])


@dataclass
class Harness:
    """The api (signed in as CALLER, /dev/token served) and the worker, on one data dir; the
    api's staff routes are called by `staff`, signed in as a staff member."""

    clients: dict[str, Any]
    unprocessable: Unprocessable
    staff: Any = None

    def probe(self, target: Limited, value: Any) -> Outcome:
        """Send the target's operation with `value` in its place (the rest as in BASE_BODIES)
        and say what the answer says of the value: its status, and for a refusal the field
        and the reason, with the value left out so that two values refused alike compare
        equal."""
        body = dict(BASE_BODIES[target.operation_id])
        headers: dict[str, str] = {}
        if target.where == "body":
            body[target.name] = value
        else:
            headers[target.name] = value
        before = len(self.unprocessable.reasons)
        client = self.clients[target.role]
        if target.path.startswith("/v1/staff/"):
            client = self.staff
        response = client.open(
            target.path, method=target.method.upper(), json=body, headers=headers
        )
        status: int | str = response.status_code
        if response.status_code >= 400:
            problem = response.get_json(force=True)
            field, detail = problem.get("field"), problem.get("detail", "")
        elif len(self.unprocessable.reasons) > before:
            status, detail = NOT_PROCESSED, self.unprocessable.reasons[-1]
            field = detail.split(":", 1)[0]
        else:
            return (status,)
        return (status, field, detail.replace(repr(value), "<value>"))


@pytest.fixture
def harness(settings, monkeypatch, identity, bearer) -> Iterator[Harness]:
    monkeypatch.delenv("K_SERVICE", raising=False)
    settings = replace(
        settings,
        callback_allowed_hosts=("hooks.example.com",),
        callback_signing_key="test-signing-key",
    )
    api_settings = replace(settings, agent_role="api")
    worker_settings = replace(settings, agent_role="worker", push_auth_disabled_for_emulator=True)
    api_services, worker_services = build_services(api_settings), build_services(worker_settings)
    api = create_app(api_settings, api_services, identity=identity).test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id=CALLER)["Authorization"]
    worker = create_app(worker_settings, worker_services).test_client()
    staff = api.application.test_client()
    staff.environ_base["HTTP_AUTHORIZATION"] = bearer(staff_id="S001")["Authorization"]
    unprocessable = Unprocessable()
    pubsub_log = logging.getLogger("app.http.pubsub")
    pubsub_log.addHandler(unprocessable)
    yield Harness({"api": api, "worker": worker}, unprocessable, staff)
    pubsub_log.removeHandler(unprocessable)
    api_services.close()
    worker_services.close()


def documented_limits(role: str, client: Any, session_id: str) -> list[Limited]:
    """Every body member and header parameter of the role's document that has a limit."""
    document = client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    found: list[Limited] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            values: list[tuple[str, str, dict[str, Any]]] = [
                ("header", p["name"], p["schema"])
                for p in operation.get("parameters", [])
                if p["in"] == "header"
            ]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                name = body["schema"]["$ref"].rsplit("/", 1)[-1]
                members = schemas[name]["properties"].items()
                values += [("body", member, schema) for member, schema in members]
            limited = [value for value in values if LIMIT_KEYWORDS & set(value[2])]
            filled = path.replace("{session_id}", session_id)
            assert not limited or "{" not in filled, f"no id to probe {path} with"
            found += [
                Limited(role, method, filled, operation["operationId"], where, name, schema)
                for where, name, schema in limited
            ]
    return found


def refused_for_the_field(result: Outcome, target: Limited) -> bool:
    """A refusal as bad input (or a push the worker will not process) naming the field."""
    return (
        len(result) == 3 and result[1] == target.name and result[0] in (*BAD_INPUT, NOT_PROCESSED)
    )


def string_of(target: Limited, length: int, fill: str = "a") -> str:
    """A string of `length` characters that breaks no rule of the field but its limits."""
    if target.name == "callback_url" and length > len(CALLBACK_PREFIX):
        return CALLBACK_PREFIX + fill * (length - len(CALLBACK_PREFIX))
    return fill * length


def length_probes(target: Limited) -> tuple[str, list[tuple[str, str, str]]]:
    """(inside, [(limit, at, past)]) for a string's documented lengths."""
    low, high = target.schema.get("minLength", 0), target.schema.get("maxLength")
    inside = string_of(target, max(low + 1, (low + (high if high is not None else 128)) // 2))
    probes = []
    if low > 0:
        probes.append((f"minLength {low}", string_of(target, low), string_of(target, low - 1)))
    if high is not None:
        probes.append((f"maxLength {high}", string_of(target, high), string_of(target, high + 1)))
    return inside, probes


def range_probes(target: Limited) -> tuple[int, list[tuple[str, int, int]]]:
    """(inside, [(limit, at, past)]) for an integer's documented range."""
    low, high = target.schema["minimum"], target.schema["maximum"]
    return (low + high) // 2, [
        (f"minimum {low}", low, low - 1),
        (f"maximum {high}", high, high + 1),
    ]


def pattern_probes(target: Limited, inside: str) -> list[tuple[str, bool]]:
    """Values around `inside`, each with whether the documented pattern allows it: one
    character put in its middle, for each probed character; one made of blanks only; and at
    and just past each count the pattern itself names (`{1,255}`)."""
    pattern = target.schema["pattern"]
    middle = len(inside) // 2
    characters = HEADER_CHARACTERS if target.where == "header" else BODY_CHARACTERS
    values = [inside[:middle] + c + inside[middle + 1 :] for c in characters]
    values.append(" " * len(inside))
    quantifiers = re.findall(r"\{(\d+)(?:,(\d*))?\}", pattern)
    counts = {int(count) for bounds in quantifiers for count in bounds if count}
    values += [string_of(target, n + step) for n in counts for step in (-1, 0, 1) if n + step >= 0]
    # JSON Schema's pattern is found anywhere in the value, as re.search finds it.
    return [(value, re.search(pattern, value) is not None) for value in values]


def shown(value: Any) -> str:
    """A probed value for a message, each run of one character as `a*50`."""
    return re.sub(r"(.)\1{7,}", lambda run: f"{run[1]}*{len(run[0])}", repr(value))


def variants(target: Limited, value: Any) -> list[Any]:
    """A header's key is sent bare and as an RFC 8941 string, which the document allows."""
    return [value, f'"{value}"'] if target.where == "header" else [value]


def check(
    harness: Harness, target: Limited, inside: Any, what: str, at: Any, past: Any
) -> list[str]:
    """The misses of one limit: `at` not answered like `inside`, or `past` not refused for it."""
    misses = []
    for shown in zip(
        variants(target, inside), variants(target, at), variants(target, past), strict=True
    ):
        inside_outcome, at_outcome, past_outcome = (harness.probe(target, v) for v in shown)
        if at_outcome != inside_outcome:
            misses.append(f"{target}: {what}: at the limit {at_outcome}, inside {inside_outcome}")
        if not refused_for_the_field(past_outcome, target) or past_outcome == inside_outcome:
            misses.append(f"{target}: {what}: just past it {past_outcome}")
    return misses


def misses_of(harness: Harness, target: Limited) -> list[str]:
    """Every way the target's enforced limits differ from its documented ones."""
    schema, misses = target.schema, []
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "integer" in types:
        inside, ranges = range_probes(target)
        for what, at, past in ranges:
            misses += check(harness, target, inside, what, at, past)
        return misses
    if "enum" in schema:
        for member in (m for m in schema["enum"] if m is not None):
            if refused_for_the_field(harness.probe(target, member), target):
                misses.append(f"{target}: enum member {member!r} refused")
        stranger = "not-" + "-".join(m for m in schema["enum"] if m is not None)
        if not refused_for_the_field(harness.probe(target, stranger), target):
            misses.append(f"{target}: {stranger!r}, in no enum, accepted")
        return misses
    inside, lengths = length_probes(target)
    for what, at, past in lengths:
        misses += check(harness, target, inside, what, at, past)
    if "pattern" in schema:
        inside_outcome = harness.probe(target, inside)
        for value, allowed in pattern_probes(target, inside):
            for sent in variants(target, value):
                result = harness.probe(target, sent)
                if allowed and result != inside_outcome:
                    misses.append(f"{target}: pattern allows {shown(sent)}, answered {result}")
                if not allowed and (
                    not refused_for_the_field(result, target) or result == inside_outcome
                ):
                    misses.append(f"{target}: pattern refuses {shown(sent)}, answered {result}")
    return misses


def walk(harness: Harness) -> dict[str, list[str]]:
    """Target name -> misses, for every documented limit of both roles."""
    created = harness.clients["api"].post("/v1/sessions", json={})
    assert created.status_code == 201, created.get_data(as_text=True)
    session_id = created.get_json()["id"]
    targets = [
        target
        for role, client in harness.clients.items()
        for target in documented_limits(role, client, session_id)
    ]
    return {str(target): misses_of(harness, target) for target in targets}


def test_every_documented_limit_is_the_enforced_one(harness: Harness) -> None:
    results = walk(harness)
    # The walk reached the limits that once disagreed, and the rest of each role's bodies.
    assert {
        "postMessage body text",
        "postMessage header Idempotency-Key",
        "createInquiry header Idempotency-Key",
        "searchFaq body query",
        "searchFaq body top_k",
        "createInquiry body callback_url",
        "createInquiry body kind",
        "mintDevToken body staff_id",
        "pushInquiry body deliveryAttempt",
        "staffReply body text",
        "staffReply header Idempotency-Key",
    } <= set(results)
    misses = [miss for found in results.values() for miss in found]
    assert misses == [], "\n".join(misses[:20])


def test_the_walk_finds_a_limit_documented_looser_than_enforced(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk fails where the two disagree, as they did: the document saying 4000."""
    from app.http import openapi

    text = openapi.SCHEMAS["NewMessage"]["properties"]["text"]
    monkeypatch.setitem(text, "maxLength", 4000)
    api = harness.clients["api"]
    session_id = api.post("/v1/sessions", json={}).get_json()["id"]
    (target,) = [
        t for t in documented_limits("api", api, session_id) if str(t) == "postMessage body text"
    ]
    assert target.schema["maxLength"] == 4000
    misses = misses_of(harness, target)
    assert any("maxLength 4000: at the limit" in miss for miss in misses), misses


def test_the_walk_finds_a_key_documented_looser_than_enforced(harness: Harness) -> None:
    """The walk fails where the two disagree, as they did: the document saying 255 characters
    of any visible ASCII, the check 200 of letters, digits and ._:+/=~-."""
    api = harness.clients["api"]
    session_id = api.post("/v1/sessions", json={}).get_json()["id"]
    (target,) = [
        t
        for t in documented_limits("api", api, session_id)
        if str(t) == "postMessage header Idempotency-Key"
    ]
    looser = replace(
        target, schema={**target.schema, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"}
    )
    misses = misses_of(harness, looser)
    assert any("maxLength 255: at the limit" in miss for miss in misses), misses
    assert any("pattern allows 'a*64#a*63'" in miss for miss in misses), misses
