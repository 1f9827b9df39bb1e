"""How the api's identity is built from settings: Identity Platform or the local issuer.

The production path runs against a stand-in of Google's certificate endpoint over local HTTP
(tests/app/token_issuers.py): a real api app checks Identity Platform-shaped tokens through the
same code that runs on Cloud Run, and fetches the keys once for many requests.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import replace

import pytest

from app.config.settings import Settings, SettingsError
from app.http import create_app
from app.identity.keys import RemoteKeys
from app.identity.local_issuer import KEY_FILE, LocalIssuer
from app.identity.setup import build_identity
from tests.app.token_issuers import CertServer, TestIssuer

PROJECT = "acme-agents-dev"


@pytest.fixture(scope="module")
def google():
    return TestIssuer("google-key-1")


@pytest.fixture
def certs(google):
    with CertServer([google]).running() as server:
        yield server


@pytest.fixture
def production_api(tmp_path, certs, fake_services):
    settings = Settings.from_env(
        {},
        data_dir=str(tmp_path / "data"),
        auth_mode="identity_platform",
        auth_project_id=PROJECT,
    )
    identity = build_identity(settings, environ={}, remote_keys=RemoteKeys(certs.url))
    return create_app(settings, fake_services, identity=identity).test_client()


def test_identity_platform_tokens_are_accepted_and_keys_fetched_once(
    production_api, google, certs, fake_services
):
    token = google.token(PROJECT, customer_id="C002")
    for _ in range(5):
        created = production_api.post(
            "/v1/sessions", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201
    assert fake_services.calls[0] == ("sessions.create", ("C002", {}))
    assert certs.fetches == 1


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"aud": "another-project"}, "audience is not acme-agents-dev"),
        (
            {"iss": "https://securetoken.google.com/another-project"},
            "issuer is not https://securetoken.google.com/acme-agents-dev",
        ),
    ],
)
def test_tokens_of_another_project_are_401(production_api, google, claims, detail):
    token = google.sign(google.claims(PROJECT, customer_id="C002", **claims))
    response = production_api.get("/v1/sessions/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert detail in response.get_json()["detail"]


def test_a_signed_in_account_without_the_customer_claim_is_403(production_api, google):
    token = google.token(PROJECT)  # signed up, not linked to a customer yet
    response = production_api.post(
        "/v1/sessions", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert response.get_json()["detail"] == "this account is not linked to a customer"


def test_no_dev_token_route_outside_local_mode(production_api):
    assert production_api.post("/dev/token", json={"customer_id": "C001"}).status_code == 404
    document = production_api.get("/openapi.json").get_json()
    assert "/dev/token" not in document["paths"]


def test_keys_that_cannot_be_fetched_are_503_not_401(tmp_path, google, fake_services):
    settings = Settings.from_env(
        {}, data_dir=str(tmp_path), auth_mode="identity_platform", auth_project_id=PROJECT
    )
    with CertServer([google]).running() as server:
        server.status = 500
        identity = build_identity(settings, environ={}, remote_keys=RemoteKeys(server.url))
        api = create_app(settings, fake_services, identity=identity).test_client()
        token = google.token(PROJECT, customer_id="C002")
        response = api.get("/v1/sessions/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_identity_platform_needs_a_project(tmp_path):
    settings = Settings.from_env({}, data_dir=str(tmp_path))
    with pytest.raises(SettingsError, match="AUTH_PROJECT_ID"):
        build_identity(settings, environ={})
    fallback = replace(settings, google_cloud_project="acme-agents-prod")
    verifier = build_identity(fallback, environ={}).authenticator.verifier
    assert verifier.audience == "acme-agents-prod"
    assert verifier.issuer == "https://securetoken.google.com/acme-agents-prod"


def test_local_mode_is_refused_on_cloud_run(tmp_path):
    settings = Settings.from_env({}, data_dir=str(tmp_path), auth_mode="local")
    with pytest.raises(SettingsError, match="AUTH_MODE: must be identity_platform on Cloud Run"):
        build_identity(settings, environ={"K_SERVICE": "agents-dev-api"})
    assert not (tmp_path / KEY_FILE).exists()


def test_the_local_key_is_made_once_private_and_reused(tmp_path):
    first = LocalIssuer.load_or_create(tmp_path / "data", "customer_id")
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = LocalIssuer.load_or_create(tmp_path / "data", "customer_id")
    assert again.key_id == first.key_id
    token = first.mint(customer_id="C001")
    assert again.verifier().verify(token)["customer_id"] == "C001"


def test_processes_starting_together_agree_on_one_key(tmp_path):
    issuers: list[LocalIssuer] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        issuers.append(LocalIssuer.load_or_create(tmp_path, "customer_id"))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({issuer.key_id for issuer in issuers}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]  # no temporary left


def test_a_key_file_others_can_read_is_refused(tmp_path):
    LocalIssuer.load_or_create(tmp_path, "customer_id")
    os.chmod(tmp_path / KEY_FILE, 0o644)
    settings = Settings.from_env({}, data_dir=str(tmp_path), auth_mode="local")
    with pytest.raises(SettingsError, match="chmod 600"):
        build_identity(settings, environ={})


def test_a_damaged_key_file_is_refused_with_the_fix(tmp_path):
    (tmp_path / KEY_FILE).write_text("not a key")
    os.chmod(tmp_path / KEY_FILE, 0o600)
    settings = Settings.from_env({}, data_dir=str(tmp_path), auth_mode="local")
    with pytest.raises(SettingsError, match="delete it"):
        build_identity(settings, environ={})


def test_tokens_of_another_data_dir_are_refused(tmp_path):
    mine = LocalIssuer.load_or_create(tmp_path / "a", "customer_id")
    theirs = LocalIssuer.load_or_create(tmp_path / "b", "customer_id")
    with pytest.raises(Exception, match="kid"):
        mine.verifier().verify(theirs.mint(customer_id="C001"))


@pytest.mark.parametrize("raw", ["sub", "role", "email", "1abc", "has-dash", "x" * 65])
def test_the_customer_claim_setting_refuses_reserved_or_odd_names(raw):
    with pytest.raises(SettingsError, match="AUTH_CUSTOMER_CLAIM"):
        Settings.from_env({"AUTH_CUSTOMER_CLAIM": raw})
    assert Settings.from_env({"AUTH_CUSTOMER_CLAIM": "crm_id"}).auth_customer_claim == "crm_id"
