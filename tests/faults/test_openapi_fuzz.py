"""schemathesis against each role's own /openapi.json, in process on the WSGI app.

Every documented operation gets generated requests, valid ones and invalid ones, on the real
services (SQLite in a temporary folder, the rules model). Whatever is sent: never a 5xx, and
every error answer is application/problem+json with the status it was sent with. The number of
examples is bounded and the generation derandomized, so a run is repeatable and quick.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from app.http import create_app  # noqa: E402
from app.http.push_auth import allow_unauthenticated  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.wiring import build_services  # noqa: E402

PROBLEM = "application/problem+json"
EXAMPLES_PER_OPERATION = 25


@dataclass
class Finding:
    operation: str
    mode: str
    status: int
    content_type: str
    body: str

    def __str__(self) -> str:
        return f"{self.operation} ({self.mode}): {self.status} {self.content_type} {self.body}"


def build(role: str, tmp_path):
    settings = Settings(agent_role=role, data_dir=str(tmp_path / role), model="rules")
    services = build_services(settings)
    # The worker's push endpoint is fuzzed past its token check: what it does with any
    # envelope is what is under test (the token checks have their own tests).
    verifier = allow_unauthenticated if role == "worker" else None
    return create_app(settings, services, push_verifier=verifier), services


def problems_of(response, label: str, mode: str) -> list[Finding]:
    headers = {name.lower(): value for name, value in response.headers.items()}
    content_type = headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    finding = Finding(label, mode, response.status_code, content_type, response.text[:200])
    if response.status_code >= 500:
        return [finding]
    if response.status_code >= 400:
        if not content_type.startswith(PROBLEM):
            return [finding]
        body = response.json()
        if body.get("status") != response.status_code or not body.get("detail"):
            return [finding]
    return []


def fuzz(operation, mode, findings: list[Finding], calls: dict[str, int]) -> None:
    """Send up to EXAMPLES_PER_OPERATION generated requests of one operation in one mode."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call()
        calls["count"] += 1
        calls["errors"] += response.status_code >= 400
        findings.extend(problems_of(response, operation.label, mode.value))

    try:
        run()
    except Unsatisfiable:
        # an operation with no parameters and no body has no invalid request to generate
        if mode is GenerationMode.POSITIVE:
            raise


@pytest.mark.parametrize("role", ["api", "worker"])
def test_no_5xx_and_every_error_is_problem_json(role, tmp_path):
    app, services = build(role, tmp_path)
    try:
        schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
        findings: list[Finding] = []
        calls = {"count": 0, "errors": 0}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert operations, "the OpenAPI document lists no operation"
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, findings, calls)
        assert not findings, "\n".join(str(f) for f in findings[:20])
        assert calls["count"] >= len(operations) * 2
        # The api's run reached the error paths it is meant to hold, not only happy answers.
        # The worker acknowledges every push that passes auth, even a malformed one (no retry
        # could fix it), so it has no error answer for the fuzzer to reach.
        if role == "api":
            assert calls["errors"] > 0
    finally:
        services.close()
