"""The pages as production serves them (AUTH_MODE=identity_platform): email and password through
the bundled Firebase Auth SDK, against a stand-in for Identity Platform's REST API that the
browser reaches through Playwright's routing (nothing leaves the machine).

The api cannot accept the stand-in's tokens (it checks Google's signatures), so these tests end
where the page hands the ID token to the api: the page sends exactly that token, and says what
the api answered. The path of a real token through the api is tests/app's.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import app_process
from tests.browser.app_process import RunningApp

PROJECT = "acme-shop-prod"
API_KEY = "AIzaSyA-test-browser-key_0123456789abc"
ORIGINS = ("https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com")
CORS = {"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def production_app(
    playwright_api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    settings = {
        "AUTH_MODE": "identity_platform",
        "AUTH_PROJECT_ID": PROJECT,
        "WEB_API_KEY": API_KEY,
    }
    with app_process.running_app(tmp_path_factory.mktemp("production-app"), settings) as app:
        yield app


def _jwt(n: int) -> str:
    def encode(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"sub": "u1", "iat": now, "exp": now + 3600, "aud": PROJECT, "n": n}
    return f"{encode({'alg': 'none'})}.{encode(claims)}.signature"


class IdentityPlatform:
    """Answers the SDK's calls as Identity Platform would: the password "right" signs in."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.keys: set[str] = set()
        self.tokens = [_jwt(1), _jwt(2)]

    def __call__(self, route: Any) -> None:
        request = route.request
        url = request.url
        self.calls.append(url.split("?")[0])
        self.keys.add(url.split("key=")[-1] if "key=" in url else "")
        if request.method == "OPTIONS":
            headers = {
                **CORS,
                "Access-Control-Allow-Headers": "*",
                "Access-Control-Allow-Methods": "POST",
            }
            route.fulfill(status=204, headers=headers)
            return
        body = request.post_data or ""
        if url.split("?")[0].endswith("accounts:signInWithPassword"):
            sent = json.loads(body)
            if sent.get("password") != "right":
                error = {"error": {"code": 400, "message": "INVALID_LOGIN_CREDENTIALS"}}
                route.fulfill(status=400, headers=CORS, body=json.dumps(error))
                return
            answer = {
                "localId": "u1",
                "email": sent["email"],
                "idToken": self.tokens[0],
                "refreshToken": "r1",
                "expiresIn": "3600",
            }
        elif url.split("?")[0].endswith("accounts:lookup"):
            answer = {"users": [{"localId": "u1", "email": "ann@example.com"}]}
        elif url.startswith(ORIGINS[1]):
            answer = {
                "access_token": self.tokens[1],
                "id_token": self.tokens[1],
                "refresh_token": "r2",
                "expires_in": "3600",
            }
        else:
            route.fulfill(status=404, headers=CORS, body="{}")
            return
        route.fulfill(status=200, headers=CORS, body=json.dumps(answer))


@pytest.fixture
def signing_in(people: Any, production_app: RunningApp) -> tuple[Any, IdentityPlatform]:
    page = people()
    service = IdentityPlatform()
    for origin in ORIGINS:
        page.context.route(f"{origin}/**", service)
    page.goto(production_app.url + "/")
    return page, service


def test_the_page_signs_in_with_email_and_password_and_sends_that_token(
    signing_in: tuple[Any, IdentityPlatform], playwright_api: Any
) -> None:
    expect = playwright_api.expect
    page, service = signing_in
    expect(page.get_by_role("combobox", name="Customer")).to_be_hidden()  # no demo accounts
    page.get_by_role("textbox", name="Email").fill("ann@example.com")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.headers.get("authorization", ""))
            if request.url.endswith("/v1/sessions")
            else None
        ),
    )
    page.get_by_label("Password").fill("right")
    with page.expect_response(lambda response: response.url.endswith("/v1/sessions")):
        page.get_by_role("button", name="Sign in").click()
    # The api refuses the stand-in's token (not signed by Google); the page says why and shows
    # no conversation. After the 401 it asked once for a fresh token, and tried with that.
    expect(page.get_by_role("alert")).to_contain_text("token")
    expect(page.get_by_role("log")).to_be_hidden()
    assert sent[0] == f"Bearer {service.tokens[0]}"
    assert f"Bearer {service.tokens[1]}" in sent
    assert service.keys == {API_KEY}
    assert any(call.endswith("accounts:signInWithPassword") for call in service.calls)
    expect(page.get_by_text("Signed in as ann@example.com")).to_be_visible()


def test_the_sign_in_code_loads_only_where_it_is_used(
    signing_in: tuple[Any, IdentityPlatform], people: Any, running_app: RunningApp
) -> None:
    page, _ = signing_in
    page.get_by_role("textbox", name="Email").wait_for()
    assert page.evaluate("typeof window.AgentAuth") == "object"
    local = people()
    local.goto(running_app.url + "/")
    local.get_by_role("combobox", name="Customer").wait_for()
    assert local.evaluate("typeof window.AgentAuth") == "undefined"
