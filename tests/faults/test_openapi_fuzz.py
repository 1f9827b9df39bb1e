"""schemathesis against each role's own /openapi.json, in process on the WSGI app.

Every documented operation gets generated requests, valid ones and invalid ones, on the real
services (SQLite in a temporary folder, the rules model). Whatever is sent: never a 5xx, and
every error answer is application/problem+json with the status it was sent with. The number of
examples is bounded and the generation derandomized, so a run is repeatable and quick. Every
api request carries a valid token (AUTH_MODE=local): a staff member's on the staff routes
(/v1/staff/...), a customer's elsewhere, so the fuzzer reaches past the authentication gate into
each route (tests/app/http/test_http_access.py covers the gate itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from app.config.settings import Settings  # noqa: E402
from app.http import create_app  # noqa: E402
from app.http.push_auth import allow_unauthenticated  # noqa: E402
from app.identity.local_issuer import LocalIssuer  # noqa: E402
from app.wiring import build_services  # noqa: E402
from tests.support.tokens import bearer_header  # noqa: E402

PROBLEM = "application/problem+json"
STAFF_ROUTES = "/v1/staff/"
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
    data_dir = tmp_path / role
    settings = Settings(agent_role=role, data_dir=str(data_dir), model="rules", auth_mode="local")
    services = build_services(settings)
    # The worker's push endpoint is fuzzed past its token check: what it does with any
    # envelope is what is under test (the token checks have their own tests).
    verifier = allow_unauthenticated if role == "worker" else None
    headers = bearer_header(data_dir, "C001") if role == "api" else {}
    return create_app(settings, services, push_verifier=verifier), services, headers


def staff_header(data_dir) -> dict[str, str]:
    """A demo staff member's token of the same local issuer (the staff routes refuse others)."""
    token = LocalIssuer.load_or_create(data_dir, "customer_id").mint(staff_id="S001")
    return {"Authorization": f"Bearer {token}"}


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


def fuzz(
    operation, mode, findings: list[Finding], calls: dict[str, int], headers: dict[str, str]
) -> None:
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
        response = case.call(headers=headers)
        # Valid requests get past the gate (negative ones may carry a broken Authorization of
        # the fuzzer's own): a 403 can then only be a body naming another customer (`field`).
        if mode is GenerationMode.POSITIVE:
            assert response.status_code != 401, (operation.label, response.text[:200])
        if mode is GenerationMode.POSITIVE and response.status_code == 403:
            assert response.json().get("field"), (operation.label, response.text[:200])
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
    app, services, headers = build(role, tmp_path)
    try:
        schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
        findings: list[Finding] = []
        calls = {"count": 0, "errors": 0}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert operations, "the OpenAPI document lists no operation"
        staff = staff_header(tmp_path / role) if role == "api" else {}
        for operation in operations:
            sent = staff if operation.path.startswith(STAFF_ROUTES) else headers
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, findings, calls, sent)
        assert not findings, "\n".join(str(f) for f in findings[:20])
        assert calls["count"] >= len(operations) * 2
        # The api's run reached the error paths it is meant to hold, not only happy answers.
        # The worker acknowledges every push that passes auth, even a malformed one (no retry
        # could fix it), so it has no error answer for the fuzzer to reach.
        if role == "api":
            assert calls["errors"] > 0
    finally:
        services.close()
