"""The pages' sign-in in production: a browser API key locked to Identity Platform's APIs and to
the app's domains, handed to the api (WEB_API_KEY, WEB_AUTH_DOMAIN), which serves it to the
pages (GET /v1/web-config) under a policy that lets them reach exactly those APIs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.infra.conftest import ENV_NAMES, resources
from tests.infra.test_app_env import plain_values, services


def only(tf: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    ((name, config),) = resources(tf, resource_type).items()
    return name, config


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_browser_key_calls_only_the_sign_in_apis_from_the_sign_in_domains(
    env_name: str, synthesized: Any
) -> None:
    tf = synthesized.stacks[env_name]
    config = synthesized.envs[env_name].config
    _, key = only(tf, "google_apikeys_key")
    _, identity = only(tf, "google_identity_platform_config")
    assert key["name"] == f"{config.name_prefix}-web-sign-in"
    assert key["project"] == config.project_id
    restrictions = key["restrictions"]
    assert [t["service"] for t in restrictions["api_targets"]] == [
        "identitytoolkit.googleapis.com",
        "securetoken.googleapis.com",
    ]
    referrers = restrictions["browser_key_restrictions"]["allowed_referrers"]
    domains = identity["authorized_domains"]
    assert referrers == [
        "http://localhost:*/*" if d == "localhost" else f"https://{d}/*" for d in domains
    ]
    assert referrers and all(r.endswith("/*") for r in referrers)
    enabled = {s["service"] for s in resources(tf, "google_project_service").values()}
    assert {"apikeys.googleapis.com", "securetoken.googleapis.com"} <= enabled


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_api_alone_gets_the_key_and_the_auth_domain(env_name: str, synthesized: Any) -> None:
    tf = synthesized.stacks[env_name]
    config = synthesized.envs[env_name].config
    key_name, _ = only(tf, "google_apikeys_key")
    by_role = services(tf)
    api = plain_values(by_role["api"])
    assert api["WEB_API_KEY"] == f"${{google_apikeys_key.{key_name}.key_string}}"
    expected = config.auth.web_auth_domain or f"{config.project_id}.firebaseapp.com"
    assert api["WEB_AUTH_DOMAIN"] == expected
    worker = plain_values(by_role["worker"])
    assert not {"WEB_API_KEY", "WEB_AUTH_DOMAIN"} & set(worker)


def test_the_pages_may_reach_exactly_the_apis_the_key_allows() -> None:
    from app.http.pages import IDENTITY_PLATFORM_ORIGINS
    from modules.customer_identity import BROWSER_KEY_APIS

    hosts = [urlsplit(origin).hostname for origin in IDENTITY_PLATFORM_ORIGINS]
    assert hosts == list(BROWSER_KEY_APIS)
    assert all(origin.startswith("https://") for origin in IDENTITY_PLATFORM_ORIGINS)


def test_an_environment_may_name_its_auth_domain(synthesized: Any) -> None:
    from infra.app_env import web_auth_domain
    from infra.config import AuthConfig

    config = synthesized.envs["prod"].config
    assert web_auth_domain(config) == f"{config.project_id}.firebaseapp.com"
    named = config.model_copy(
        update={"auth": config.auth.model_copy(update={"web_auth_domain": "login.shop.example"})}
    )
    assert web_auth_domain(named) == "login.shop.example"
    with pytest.raises(ValueError, match="web_auth_domain"):
        AuthConfig(web_auth_domain="https://login.shop.example")
