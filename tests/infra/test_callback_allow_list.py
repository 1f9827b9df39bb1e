"""The callback allow-list has one grammar: an environment file's `app.callback_allowed_hosts`
and the app's CALLBACK_ALLOWED_HOSTS accept exactly the same entries, normalized alike.

Before, infra accepted `hooks.example.com:` and `10.0.0.1` while the app refused a wildcard's
port and infra refused the app's `*.partner.example`: a plan could pass and the service then
refuse to start, or the reverse.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config.settings import Settings, SettingsError
from infra.app_env import service_env
from infra.config import AppConfig
from infra.loader import load_environment
from tests.infra.conftest import REPO
from tests.infra.test_app_env import REFS

# entry -> how both store it, or None when both refuse it
ENTRIES: dict[str, str | None] = {
    "hooks.example.com": "hooks.example.com",
    " Hooks.Example.COM ": "hooks.example.com",
    "*.partner.example": "*.partner.example",
    "hooks.example.com:8443": "hooks.example.com:8443",
    "*.partner.example:8443": "*.partner.example:8443",
    "hooks.example.com:443": "hooks.example.com:443",
    "localhost": "localhost",
    "xn--bcher-kva.example": "xn--bcher-kva.example",
    "a-b.c-d.example": "a-b.c-d.example",
    "https://hooks.example.com": None,
    "hooks.example.com/cb": None,
    "user@hooks.example.com": None,
    "hooks.example.com:": None,
    "hooks.example.com:0": None,
    "hooks.example.com:0443": None,
    "hooks.example.com:65536": None,
    "hooks.example.com:https": None,
    ":443": None,
    "10.0.0.1": None,
    "169.254.169.254": None,
    "[::1]": None,
    "::1": None,
    "*": None,
    "*.": None,
    "*.com": None,
    "a.*.example": None,
    "*hooks.example.com": None,
    "hooks..example.com": None,
    ".hooks.example.com": None,
    "hooks.example.com.": None,
    "-hooks.example.com": None,
    "hooks-.example.com": None,
    "hooks_1.example.com": None,
    "hooks example.com": None,
    "hooks.example.com\\": None,
    "attacker.tld\\.partner.example": None,
    "b\u00fccher.example": None,
    "a" * 64 + ".example": None,
    ".".join(["a" * 63] * 4): None,
}


def app_reads(entry: str) -> tuple[str, ...] | None:
    try:
        return Settings.from_env({"CALLBACK_ALLOWED_HOSTS": entry}).callback_allowed_hosts
    except SettingsError:
        return None


def infra_reads(entry: str) -> tuple[str, ...] | None:
    try:
        config = AppConfig(callback_allowed_hosts=[entry], callback_signing_secret="cb-key")
    except ValidationError:
        return None
    return tuple(config.callback_allowed_hosts)


@pytest.mark.parametrize(("entry", "stored"), ENTRIES.items())
def test_app_and_infra_accept_and_refuse_the_same_entries(entry: str, stored: str | None) -> None:
    expected = None if stored is None else (stored,)
    assert (app_reads(entry), infra_reads(entry)) == (expected, expected)


def test_a_comma_inside_an_infra_entry_is_refused_since_the_app_would_split_it() -> None:
    assert infra_reads("a.example,b.example") is None
    assert app_reads("a.example,b.example") == ("a.example", "b.example")
    assert app_reads("a.example,,b.example") is None  # an empty entry is a mistake


def test_the_infra_error_names_the_field_and_the_forms() -> None:
    with pytest.raises(ValidationError) as caught:
        AppConfig(callback_allowed_hosts=["10.0.0.1"], callback_signing_secret="cb-key")
    [error] = caught.value.errors()
    assert error["loc"] == ("callback_allowed_hosts",)
    assert error["msg"].startswith("every entry must be a host name, *.domain")


def test_what_infra_sets_is_what_the_app_reads() -> None:
    config = load_environment(REPO / "environments" / "dev.yaml").config
    hosts = [" Hooks.Example.com:8443", "*.partner.example"]
    app = AppConfig(callback_allowed_hosts=hosts, callback_signing_secret="cb-key")
    environ = service_env("worker", config.model_copy(update={"app": app}), REFS)
    assert Settings.from_env(environ).callback_allowed_hosts == (
        "hooks.example.com:8443",
        "*.partner.example",
    )
