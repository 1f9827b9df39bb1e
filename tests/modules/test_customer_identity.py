"""CustomerIdentity: email and password sign-in, a password policy set through the Admin API,
and an optional TOTP second factor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.modules.conftest import PROJECT, resources
from tests.support.local_exec import apply_alone

STRICT_PROJECT = "acme-shop-prod"
ADMIN_CONFIG = f"https://identitytoolkit.googleapis.com/admin/v2/projects/{STRICT_PROJECT}/config"


@pytest.fixture(scope="module")
def built(synth) -> dict[str, Any]:
    """Two configurations in one stack: a strict one waiting for a gate, and a plain one."""
    from cdktn_provider_google.pubsub_topic import PubsubTopic

    from modules.customer_identity import CustomerIdentity, CustomerIdentityProps, PasswordPolicy

    made: dict[str, Any] = {}

    def build(stack: Any) -> None:
        made["gate"] = PubsubTopic(stack, "gate", name="gate")
        made["strict"] = CustomerIdentity(
            stack,
            "strict",
            CustomerIdentityProps(
                project_id=STRICT_PROJECT,
                authorized_domains=["shop.example.com", "localhost"],
                password_policy=PasswordPolicy(
                    min_length=14,
                    require_uppercase=True,
                    require_lowercase=True,
                    require_numeric=True,
                    require_non_alphanumeric=True,
                    force_upgrade_on_sign_in=True,
                ),
                mfa="optional",
                totp_adjacent_intervals=3,
                allow_sign_up=False,
                depends_on_resources=[made["gate"]],
            ),
        )
        made["plain"] = CustomerIdentity(
            stack,
            "plain",
            CustomerIdentityProps(
                project_id=PROJECT,
                authorized_domains=["dev.example.com"],
                password_policy=None,
                browser_key=None,
            ),
        )

    made["tf"] = synth(build)
    return made


def by_path(tf: dict[str, Any], resource_type: str, path: str) -> tuple[str, dict[str, Any]]:
    """The address and config of the resource of a type made at a construct path."""
    for name, config in resources(tf, resource_type).items():
        if config["//"]["metadata"]["path"] == f"test/{path}":
            return f"{resource_type}.{name}", config
    raise AssertionError(f"no {resource_type} at {path}")


def test_email_and_password_is_the_only_way_in_and_one_account_per_email(built) -> None:
    for path, project in (("strict", STRICT_PROJECT), ("plain", PROJECT)):
        _, config = by_path(built["tf"], "google_identity_platform_config", f"{path}/config")
        assert config["project"] == project
        assert config["sign_in"] == {
            "allow_duplicate_emails": False,
            "email": {"enabled": True, "password_required": True},
            "anonymous": {"enabled": False},
            "phone_number": {"enabled": False},
        }


def test_authorized_domains_and_sign_up_permission(built) -> None:
    tf = built["tf"]
    _, strict = by_path(tf, "google_identity_platform_config", "strict/config")
    _, plain = by_path(tf, "google_identity_platform_config", "plain/config")
    assert strict["authorized_domains"] == ["shop.example.com", "localhost"]
    assert strict["client"]["permissions"] == {
        "disabled_user_signup": True,
        "disabled_user_deletion": False,
    }
    assert plain["client"]["permissions"]["disabled_user_signup"] is False


def test_optional_mfa_turns_totp_on_and_off_turns_it_off(built) -> None:
    tf = built["tf"]
    _, strict = by_path(tf, "google_identity_platform_config", "strict/config")
    _, plain = by_path(tf, "google_identity_platform_config", "plain/config")
    # Both switches: the project's state and TOTP's own; the inner one alone does nothing.
    assert strict["mfa"] == {
        "state": "ENABLED",
        "provider_configs": [
            {"state": "ENABLED", "totp_provider_config": {"adjacent_intervals": 3}}
        ],
    }
    assert plain["mfa"]["state"] == "DISABLED"
    assert [p["state"] for p in plain["mfa"]["provider_configs"]] == ["DISABLED"]
    assert "enabled_providers" not in strict["mfa"]  # no SMS second factor


def test_the_password_policy_is_patched_through_the_admin_api_when_it_changes(built) -> None:
    tf = built["tf"]
    config_address, _ = by_path(tf, "google_identity_platform_config", "strict/config")
    gate = f"google_pubsub_topic.{next(iter(resources(tf, 'google_pubsub_topic')))}"
    _, policy = by_path(tf, "terraform_data", "strict/password-policy")
    assert policy["depends_on"] == [config_address, gate]
    ((kind, exec_),) = policy["provisioner"][0].items()
    assert kind == "local-exec"
    assert exec_["interpreter"] == ["/bin/sh", "-c"]
    url = "https://identitytoolkit.googleapis.com/admin/v2/projects/$PROJECT/config"
    assert f'"{url}?updateMask=passwordPolicyConfig"' in exec_["command"]
    assert "--fail-with-body" in exec_["command"]
    assert exec_["environment"]["PROJECT"] == STRICT_PROJECT
    assert json.loads(exec_["environment"]["BODY"]) == {
        "passwordPolicyConfig": {
            "passwordPolicyEnforcementState": "ENFORCE",
            "forceUpgradeOnSignin": True,
            "passwordPolicyVersions": [
                {
                    "customStrengthOptions": {
                        "minPasswordLength": 14,
                        "containsUppercaseCharacter": True,
                        "containsLowercaseCharacter": True,
                        "containsNumericCharacter": True,
                        "containsNonAlphanumericCharacter": True,
                    }
                }
            ],
        }
    }
    # A changed policy (or project) replaces the resource, which runs the PATCH again.
    assert policy["triggers_replace"] == {
        "project": STRICT_PROJECT,
        "request": exec_["environment"]["BODY"],
    }
    assert built["strict"].password_policy_request == exec_["environment"]["BODY"]


def test_without_a_policy_nothing_runs_and_the_policy_is_left_alone(built) -> None:
    paths = [c["//"]["metadata"]["path"] for c in resources(built["tf"], "terraform_data").values()]
    assert paths == ["test/strict/password-policy"]
    assert built["plain"].password_policy is None
    assert built["plain"].password_policy_request is None


def test_a_policy_not_enforced_is_sent_as_off() -> None:
    from modules.customer_identity import PasswordPolicy

    config = PasswordPolicy(min_length=8, enforce=False).api_config()
    assert config["passwordPolicyEnforcementState"] == "OFF"
    assert config["forceUpgradeOnSignin"] is False
    assert config["passwordPolicyVersions"][0]["customStrengthOptions"]["minPasswordLength"] == 8


def test_the_minimal_configuration_enforces_a_long_password_without_a_second_factor() -> None:
    from modules.customer_identity import CustomerIdentityProps

    props = CustomerIdentityProps(project_id=PROJECT, authorized_domains=["shop.example.com"])
    assert props.password_policy is not None
    assert props.password_policy.enforce is True
    assert props.password_policy.min_length >= 12
    assert (props.mfa, props.allow_sign_up) == ("off", True)


def test_the_browser_key_calls_only_the_sign_in_apis_from_the_authorized_domains(built) -> None:
    tf = built["tf"]
    address, key = by_path(tf, "google_apikeys_key", "strict/browser-key")
    gate = f"google_pubsub_topic.{next(iter(resources(tf, 'google_pubsub_topic')))}"
    assert (key["project"], key["name"]) == (STRICT_PROJECT, "web-sign-in")
    assert key["depends_on"] == [gate]
    assert key["restrictions"] == {
        "api_targets": [
            {"service": "identitytoolkit.googleapis.com"},
            {"service": "securetoken.googleapis.com"},
        ],
        "browser_key_restrictions": {
            "allowed_referrers": ["https://shop.example.com/*", "http://localhost:*/*"]
        },
    }
    from cdktn import Token

    # A reference to the key's value (tests/infra/test_web_sign_in.py follows it to the api).
    assert address.startswith("google_apikeys_key.")
    assert Token.is_unresolved(built["strict"].browser_key_string)
    # Without one: no key at all.
    assert [c["//"]["metadata"]["path"] for c in resources(tf, "google_apikeys_key").values()] == [
        "test/strict/browser-key"
    ]
    assert built["plain"].browser_key is None and built["plain"].browser_key_string is None


TOKEN = "stub-access-token-7f3a"


def apply_policy(built: dict[str, Any], folder: Path, curl_exit: int) -> tuple[Any, Path]:
    """`terraform apply` of the policy resource alone, with stand-ins for `gcloud` and `curl`."""
    _, policy = by_path(built["tf"], "terraform_data", "strict/password-policy")
    return apply_alone(policy, folder, token=TOKEN, answer="stub answer body", curl_exit=curl_exit)


def test_the_patch_sends_the_token_on_stdin_and_prints_no_successful_answer(
    built, tmp_path: Path
) -> None:
    applied, log = apply_policy(built, tmp_path / "ok", curl_exit=0)
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert f"password policy set on {STRICT_PROJECT}" in applied.stdout
    assert "stub answer body" not in applied.stdout + applied.stderr
    argv = log.with_suffix(".argv").read_text().splitlines()
    assert TOKEN not in " ".join(argv), "the token is never on a command line"
    assert log.with_suffix(".stdin").read_text() == f"Authorization: Bearer {TOKEN}\n"
    assert argv[argv.index("--request") + 1] == "PATCH"
    assert f"x-goog-user-project: {STRICT_PROJECT}" in argv
    assert argv[-1] == f"{ADMIN_CONFIG}?updateMask=passwordPolicyConfig"
    assert argv[argv.index("--data") + 1] == built["strict"].password_policy_request
    assert "--fail-with-body" in argv


def test_an_http_error_fails_the_apply_and_shows_the_answer(built, tmp_path: Path) -> None:
    applied, _ = apply_policy(built, tmp_path / "error", curl_exit=22)  # curl's HTTP error
    assert applied.returncode != 0
    assert "stub answer body" in applied.stderr
    assert f"password policy set on {STRICT_PROJECT}" not in applied.stdout


VALID = {"project_id": PROJECT, "authorized_domains": ["shop.example.com"]}


@pytest.mark.parametrize(
    ("overrides", "field", "bad"),
    [
        ({"project_id": "Acme"}, "project_id", "Acme"),
        ({"authorized_domains": []}, "authorized_domains", "non-empty list"),
        ({"authorized_domains": "shop.example.com"}, "authorized_domains", "non-empty list"),
        (
            {"authorized_domains": ["https://shop.example.com"]},
            "authorized_domains",
            "without scheme",
        ),
        ({"authorized_domains": ["shop.example.com:443"]}, "authorized_domains", ":443"),
        ({"authorized_domains": ["Shop.Example.com"]}, "authorized_domains", "lowercase"),
        (
            {"authorized_domains": ["shop.example.com", "shop.example.com"]},
            "authorized_domains",
            "may appear once",
        ),
        ({"password_policy": {"min_length": 12}}, "password_policy", "must be a PasswordPolicy"),
        ({"mfa": "mandatory"}, "mfa", "could lock new accounts out"),
        ({"mfa": "required"}, "mfa", "must be one of off, optional"),
        ({"mfa": None}, "mfa", "None"),
        ({"totp_adjacent_intervals": 11}, "totp_adjacent_intervals", "between 0 and 10"),
        ({"totp_adjacent_intervals": True}, "totp_adjacent_intervals", "True"),
        ({"allow_sign_up": "yes"}, "allow_sign_up", "true or false"),
        ({"browser_key": "Web_Key"}, "browser_key", "'Web_Key'"),
        ({"browser_key": "web-"}, "browser_key", "not ending with a hyphen"),
        ({"browser_key": "k" * 64}, "browser_key", "1-63"),
        ({"browser_key": ""}, "browser_key", "None for no browser key"),
    ],
)
def test_bad_props_name_the_field(overrides: dict, field: str, bad: str) -> None:
    from modules.customer_identity import CustomerIdentityProps

    with pytest.raises(ValueError, match=rf"^CustomerIdentityProps\.{field}: ") as error:
        CustomerIdentityProps(**{**VALID, **overrides})
    assert bad in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "field", "bad"),
    [
        ({"min_length": 5}, "min_length", "between 6 and 30 (Identity Platform's limits), got 5"),
        ({"min_length": 31}, "min_length", "got 31"),
        ({"min_length": "12"}, "min_length", "'12'"),
        ({"require_numeric": "yes"}, "require_numeric", "true or false"),
        ({"enforce": 1}, "enforce", "true or false"),
        (
            {"enforce": False, "force_upgrade_on_sign_in": True},
            "force_upgrade_on_sign_in",
            "needs enforce=True",
        ),
    ],
)
def test_a_bad_password_policy_names_its_field(kwargs: dict, field: str, bad: str) -> None:
    from modules.customer_identity import PasswordPolicy

    with pytest.raises(ValueError, match=rf"^PasswordPolicy\.{field}: ") as error:
        PasswordPolicy(**kwargs)
    assert bad in str(error.value)
