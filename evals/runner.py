"""Running the cases through the real HTTP API, in process: one fresh app and store per case.

Each case gets its own data directory (so a return created by one case never changes
another's answer), the api's routes and the access gate exactly as `make run` serves them,
and a token of its customer from the local issuer. An inquiry a turn opens is processed by the
same services' worker when the turn asks to `wait`, and its result message is checked too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config.settings import Settings
from app.domain.records import Delivery
from app.http import create_app
from app.identity.callers import Authenticator
from app.identity.local_issuer import LocalIssuer
from app.identity.pseudonym import Pseudonyms
from app.identity.setup import Identity
from app.ports.model import Model
from app.wiring import build_services
from evals.cases import Case, Turn


@dataclass
class Miss:
    case: str
    split: str
    category: str
    turn: int
    said: str
    expected: str
    got: dict[str, Any]

    def line(self) -> str:
        got = ", ".join(f"{k}={v!r}" for k, v in self.got.items())
        return f"{self.case} turn {self.turn} {self.said!r}: expected {self.expected}; got {got}"


@dataclass
class Outcome:
    case: Case
    misses: list[Miss] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.misses


class Runner:
    """Runs cases with one model (shared: it holds no conversation state)."""

    def __init__(self, model: Model, workdir: Path | None = None) -> None:
        self.model = model
        self._tmp = tempfile.TemporaryDirectory(prefix="evals-")
        self.workdir = workdir or Path(self._tmp.name)
        self.issuer = LocalIssuer.load_or_create(self.workdir / "issuer", "customer_id")
        authenticator = Authenticator(self.issuer.verifier(), "customer_id", Pseudonyms(b"eval"))
        self.identity = Identity(authenticator, self.issuer)

    def close(self) -> None:
        self._tmp.cleanup()

    def run(self, case: Case) -> Outcome:
        settings = Settings.from_env(
            {}, data_dir=str(self.workdir / case.split / case.id), auth_mode="local"
        )
        services = build_services(settings, model=self.model)
        try:
            client = create_app(settings, services, identity=self.identity).test_client()
            token = self.issuer.mint(customer_id=case.customer)
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            created = client.post("/v1/sessions", json={})
            if created.status_code != 201:
                raise RuntimeError(f"{case.id}: could not open a session: {created.get_json()}")
            session_path = created.headers["Location"]
            outcome = Outcome(case)
            for number, turn in enumerate(case.turns, start=1):
                answer = client.post(f"{session_path}/messages", json={"text": turn.say})
                body = answer.get_json() or {}
                got = _seen(answer.status_code, body)
                outcome.misses += _check(case, number, turn, got)
                if turn.wait and body.get("inquiry_id"):
                    result = _result_text(client, services, session_path, body["inquiry_id"])
                    outcome.misses += _check_result(case, number, turn, result)
            return outcome
        finally:
            services.close()


def _seen(status: int, body: dict[str, Any]) -> dict[str, Any]:
    reply = body.get("reply") or {}
    data = reply.get("data") or {}
    return {
        "status": status,
        "route": body.get("route"),
        "intent": body.get("intent"),
        "source": body.get("source"),
        "faq": data.get("faq_id"),
        "text": reply.get("text", body.get("detail", "")),
    }


def _check(case: Case, number: int, turn: Turn, got: dict[str, Any]) -> list[Miss]:
    expected: list[str] = []
    text = str(got["text"]).lower()
    if got["status"] != 200:
        expected.append("status 200")
    if turn.route is not None and got["route"] != turn.route:
        expected.append(f"route {turn.route}")
    if turn.intent is not None and got["intent"] != turn.intent:
        expected.append(f"intent {turn.intent}")
    if turn.checks_faq and (got["route"] != "faq" or got["faq"] != turn.faq):
        expected.append(f"faq {turn.faq}")
    expected += [f"{fact!r} in the reply" for fact in turn.must if fact.lower() not in text]
    expected += [f"no {fact!r}" for fact in turn.must_not if fact.lower() in text]
    if not expected:
        return []
    shown = {**got, "text": _short(got["text"])}
    return [Miss(case.id, case.split, case.category, number, turn.say, "; ".join(expected), shown)]


def _check_result(case: Case, number: int, turn: Turn, result: str | None) -> list[Miss]:
    if result is None:
        return [Miss(case.id, case.split, case.category, number, turn.say, "a result", {})]
    text = result.lower()
    expected = [f"{fact!r} in the result" for fact in turn.result_must if fact.lower() not in text]
    expected += [
        f"no {fact!r} in the result" for fact in turn.result_must_not if fact.lower() in text
    ]
    if not expected:
        return []
    miss = Miss(
        case.id,
        case.split,
        case.category,
        number,
        turn.say,
        "; ".join(expected),
        {"result": _short(result)},
    )
    return [miss]


def _result_text(client: Any, services: Any, session_path: str, inquiry_id: str) -> str | None:
    """Process the inquiry as the worker would, then read the result it posted."""
    services.worker.handle(Delivery(inquiry_id, f"eval-{inquiry_id}", 1))
    messages = client.get(session_path).get_json().get("messages", [])
    for message in messages:
        data = message.get("data") or {}
        if message.get("role") == "system" and data.get("inquiry_id") == inquiry_id:
            return str(message.get("text", ""))
    return None


def _short(text: Any, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
