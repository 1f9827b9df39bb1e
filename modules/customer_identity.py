"""End-user sign-in with Google Cloud Identity Platform: email and password, a password policy,
an optional TOTP second factor, and the browser API key web pages sign in with.

Why: an app's customers need accounts of their own, with ID tokens the app can verify offline
against Google's keys, without the app storing passwords. Identity Platform is that account
store. Its minimal configuration here is already strict: email sign-in needs a password (no
email links), one account per email, anonymous and phone sign-in off, and a password policy
enforced unless you pass `password_policy=None`.

Creates: one `google_identity_platform_config` for the project (it cannot be deleted: a destroy
only forgets it, and the project keeps its accounts); when `password_policy` is given, one
`terraform_data` that sets the password policy through the Identity Toolkit Admin API; and,
unless `browser_key=None`, one `google_apikeys_key` for the Firebase Auth SDK in web pages.

The browser key: Identity Platform's REST APIs take an API key on every call from a page. It is
public by design (every visitor's browser gets it), so it is locked down instead: it calls only
the Identity Toolkit API (sign-in) and the Secure Token API (ID token refresh), and only from
pages on `authorized_domains` (the `Referer` header; `https://<domain>/*`, and
`http://localhost:*/*` for `localhost`). The pages must therefore send their origin as
referrer: `Referrer-Policy: strict-origin` works, `no-referrer` makes every sign-in fail. Read
the key from `browser_key_string` (a sensitive Terraform value) and hand it to the pages, e.g.
as the app's WEB_API_KEY. A deleted key stays reserved for 30 days: a new key within that time
needs another `browser_key` name.

Why the password policy goes through the REST API: google provider 8.7 has no argument for
it, and no other resource sets it. The `terraform_data` (Terraform's built-in provider, >= 1.4)
holds the policy in `triggers_replace`, so Terraform replaces it, and runs its `local-exec`
provisioner again, exactly when the policy (or the project) changes. The provisioner PATCHes
`https://identitytoolkit.googleapis.com/admin/v2/projects/<project>/config?updateMask=
passwordPolicyConfig` and fails the apply on any HTTP error, printing the API's answer (never
the successful one: the config it returns holds the password hash's signer key). The machine
that applies needs `/bin/sh`, `curl` 7.76 or later (`--fail-with-body`) and `gcloud`, with
Application Default Credentials (`gcloud auth application-default login`) allowed to update
the project's auth config (`roles/identityplatform.admin`) and to bill the call to the project
(`x-goog-user-project`). The token goes to curl on stdin, not on its command line. Terraform
does not read the policy back: a change made in the console stays until the policy in code
changes, and a destroy leaves the policy in place, like the config itself.

MFA: `"optional"` turns on TOTP (authenticator apps) as a second factor users may enroll.
`"mandatory"` is refused: the REST reference lists a MANDATORY state, but Google's own Admin
SDKs accept only ENABLED and DISABLED, and with TOTP as the only second factor an account
enrolls it with the ID token of a first-factor sign-in, so requiring it from the start could
lock new accounts out. Use `"optional"` and have the app require the second factor where it
matters (the ID token's `firebase.sign_in_second_factor` claim).

The project needs billing and the `identitytoolkit.googleapis.com` API enabled, and
`apikeys.googleapis.com` for the browser key.

Example::

    sign_in = CustomerIdentity(stack, "sign-in", CustomerIdentityProps(
        project_id="acme-shop-prod",
        authorized_domains=["shop.example.com"],
        password_policy=PasswordPolicy(
            min_length=12,
            require_uppercase=True,
            require_lowercase=True,
            require_numeric=True,
            force_upgrade_on_sign_in=True,
        ),
        mfa="optional",
    ))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_apikeys_key: 1
      google_identity_platform_config: 1
      terraform_data: 1
      resources: 3
    values:
      google_identity_platform_config.sign-in_config:
        authorized_domains: [shop.example.com]
        sign_in:
          - allow_duplicate_emails: false
            email: [{enabled: true, password_required: true}]
            anonymous: [{enabled: false}]
            phone_number: [{enabled: false}]
        mfa: [{state: ENABLED, provider_configs: [{state: ENABLED}]}]
      google_apikeys_key.sign-in_browser-key:
        name: web-sign-in
        restrictions:
          - api_targets:
              - {service: identitytoolkit.googleapis.com}
              - {service: securetoken.googleapis.com}
            browser_key_restrictions: [{allowed_referrers: ["https://shop.example.com/*"]}]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from cdktn import LocalExecProvisioner, TerraformResource, Token
from cdktn_provider_google.apikeys_key import (
    ApikeysKey,
    ApikeysKeyRestrictions,
    ApikeysKeyRestrictionsApiTargets,
    ApikeysKeyRestrictionsBrowserKeyRestrictions,
)
from cdktn_provider_google.identity_platform_config import (
    IdentityPlatformConfig,
    IdentityPlatformConfigClient,
    IdentityPlatformConfigClientPermissions,
    IdentityPlatformConfigMfa,
    IdentityPlatformConfigMfaProviderConfigs,
    IdentityPlatformConfigMfaProviderConfigsTotpProviderConfig,
    IdentityPlatformConfigSignIn,
    IdentityPlatformConfigSignInAnonymous,
    IdentityPlatformConfigSignInEmail,
    IdentityPlatformConfigSignInPhoneNumber,
)
from constructs import Construct

# Identity Platform's limits: customStrengthOptions.minPasswordLength, and the TOTP provider's
# adjacentIntervals as the Admin SDKs check them.
MIN_PASSWORD_LENGTH = (6, 30)
TOTP_ADJACENT_INTERVALS = (0, 10)
MFA_STATES = {"off": "DISABLED", "optional": "ENABLED"}
ADMIN_API = "https://identitytoolkit.googleapis.com/admin/v2"
# What a page's sign-in calls with the browser key: sign-in and accounts, and token refresh.
BROWSER_KEY_APIS = ("identitytoolkit.googleapis.com", "securetoken.googleapis.com")
_KEY_NAME = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")

_DOMAIN = re.compile(r"localhost|(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")

# POSIX sh, run by Terraform with PROJECT and BODY in its environment. The token reaches curl
# on stdin (`--header @-`), so it is never in a process's arguments; the answer is printed
# only when the call fails, since a successful one returns the whole config.
PATCH_COMMAND = f"""set -eu
token=$(gcloud auth application-default print-access-token)
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
if ! printf 'Authorization: Bearer %s\\n' "$token" | curl --silent --show-error \\
    --fail-with-body --request PATCH --header @- \\
    --header "x-goog-user-project: $PROJECT" --header 'content-type: application/json' \\
    --data "$BODY" --output "$answer" \\
    "{ADMIN_API}/projects/$PROJECT/config?updateMask=passwordPolicyConfig"; then
  cat "$answer" >&2
  exit 1
fi
echo "password policy set on $PROJECT"
"""


# --- shared helpers: begin ---
# The same block, byte for byte, in every module (tests/modules/test_shared_helpers.py): each
# module is copied alone into other repos, so it cannot import them from a sibling. Change one
# copy, then paste it over the others.

# Project ids: 6-30 lowercase letters, digits or hyphens, starting with a letter.
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_MEMBER = re.compile(r"(serviceAccount|user|group|domain|principal|principalSet):\S+")
_ROLE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")
# Anyone at all: never granted through a list of members (a module says so by a flag).
_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: object) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if not isinstance(value, str) or "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: object) -> NoReturn:
    """Refuse a value, naming where it is and what is allowed: `Props.field: ..., got ...`."""
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _check(owner: str, name: str, ok: bool, allowed: str, got: object) -> None:
    if not ok:
        _fail(owner, name, allowed, got)


def _matches(pattern: re.Pattern[str], value: object, tokens: bool = False) -> bool:
    """`value` is a string that `pattern` matches whole: `re.fullmatch`, since `^...$` with
    `match` also takes a trailing newline. With `tokens`, a Terraform reference passes too."""
    if not isinstance(value, str):
        return False
    return (tokens and _unresolved(value)) or pattern.fullmatch(value) is not None


def _check_match(
    owner: str, name: str, pattern: re.Pattern[str], value: object, allowed: str, tokens: bool
) -> None:
    """`tokens`: whether a value known only at apply time (a reference) may stand for one."""
    _check(owner, name, _matches(pattern, value, tokens), allowed, value)


def _check_project_id(owner: str, value: object) -> None:
    allowed = "must be a project id: 6-30 of [a-z0-9-], starting with a letter"
    _check_match(owner, "project_id", _PROJECT_ID, value, allowed, tokens=True)


def _check_int(owner: str, name: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(owner, name, ok, f"must be an integer between {low} and {high}", value)


def _check_bool(owner: str, name: str, value: object) -> None:
    _check(owner, name, isinstance(value, bool), "must be true or false", value)


def _is_list(value: object) -> bool:
    """A list or tuple: a bare string is a mistake, not a list of one-letter items."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _check_labels(owner: str, labels: object) -> dict[str, str]:
    """Labels every labelled resource carries: `app` and `env` at least, in Google's syntax."""
    ok = isinstance(labels, Mapping) and {"app", "env"} <= set(labels)
    _check(owner, "labels", ok, "must be a mapping that includes 'app' and 'env'", labels)
    assert isinstance(labels, Mapping)
    for key, value in labels.items():
        allowed = "keys must be 1-63 of [a-z0-9_-], starting with a letter"
        _check(owner, "labels", _matches(_LABEL_KEY, key), allowed, f"{key}={value}")
        allowed = "values must be 0-63 of [a-z0-9_-]"
        _check(owner, "labels", _matches(_LABEL_VALUE, value), allowed, f"{key}={value}")
    return dict(labels)


def _check_members(owner: str, name: str, members: object) -> tuple[str, ...]:
    """IAM members such as 'serviceAccount:<email>', or references to them; never everyone."""
    _check(owner, name, _is_list(members), "must be a list of IAM members", members)
    assert isinstance(members, Sequence)
    for member in members:
        allowed = "each entry must be an IAM member like 'serviceAccount:<email>' (never allUsers)"
        ok = member not in _PUBLIC_MEMBERS and _matches(_MEMBER, member, tokens=True)
        _check(owner, name, ok, allowed, member)
    _check(owner, name, len(set(members)) == len(members), "must not repeat a member", members)
    return tuple(members)


def _check_iam(owner: str, iam: object) -> dict[str, tuple[str, ...]]:
    """Grants on a module's resource: role -> members, e.g. {'roles/x.y': ['group:g@e.com']}."""
    _check(owner, "iam", isinstance(iam, Mapping), "must map roles to lists of members", iam)
    assert isinstance(iam, Mapping)
    grants: dict[str, tuple[str, ...]] = {}
    for role, members in iam.items():
        allowed = "roles must look like 'roles/service.role' or a custom role's name"
        _check(owner, "iam", _matches(_ROLE, role), allowed, role)
        grants[role] = _check_members(owner, f"iam[{role}]", members)
    return grants


# --- shared helpers: end ---


@dataclass(frozen=True, kw_only=True)
class PasswordPolicy:
    """What a new password must hold, and whether sign-in enforces it.

    `enforce=False` records the policy without applying it (Identity Platform's own floor of 6
    characters still holds). `force_upgrade_on_sign_in` makes users whose password does not
    comply change it before their sign-in completes; it needs `enforce`.
    """

    min_length: int = 12
    require_uppercase: bool = False
    require_lowercase: bool = False
    require_numeric: bool = False
    require_non_alphanumeric: bool = False
    enforce: bool = True
    force_upgrade_on_sign_in: bool = False

    def __post_init__(self) -> None:
        owner = type(self).__name__
        (low, high), length = MIN_PASSWORD_LENGTH, self.min_length
        ok = isinstance(length, int) and not isinstance(length, bool) and low <= length <= high
        allowed = f"must be an integer between {low} and {high} (Identity Platform's limits)"
        _check(owner, "min_length", ok, allowed, length)
        for name in (
            "require_uppercase",
            "require_lowercase",
            "require_numeric",
            "require_non_alphanumeric",
            "enforce",
            "force_upgrade_on_sign_in",
        ):
            _check_bool(owner, name, getattr(self, name))
        if self.force_upgrade_on_sign_in and not self.enforce:
            _fail(
                owner,
                "force_upgrade_on_sign_in",
                "needs enforce=True: a policy that is not enforced cannot force an upgrade",
                self.force_upgrade_on_sign_in,
            )

    def api_config(self) -> dict[str, Any]:
        """The Admin API's `passwordPolicyConfig` for this policy."""
        return {
            "passwordPolicyEnforcementState": "ENFORCE" if self.enforce else "OFF",
            "forceUpgradeOnSignin": self.force_upgrade_on_sign_in,
            "passwordPolicyVersions": [
                {
                    "customStrengthOptions": {
                        "minPasswordLength": self.min_length,
                        "containsUppercaseCharacter": self.require_uppercase,
                        "containsLowercaseCharacter": self.require_lowercase,
                        "containsNumericCharacter": self.require_numeric,
                        "containsNonAlphanumericCharacter": self.require_non_alphanumeric,
                    }
                }
            ],
        }


@dataclass(frozen=True, kw_only=True)
class CustomerIdentityProps:
    """Sign-in for the project's end users.

    `authorized_domains` are the hosts whose pages may run Identity Platform's OAuth redirects
    and email action links (the app's public domains; `localhost` for a laptop), replacing the
    project's list. `allow_sign_up=False` leaves account creation to a trusted backend.
    """

    project_id: str
    authorized_domains: Sequence[str]
    password_policy: PasswordPolicy | None = PasswordPolicy()
    mfa: str = "off"
    totp_adjacent_intervals: int = 5
    allow_sign_up: bool = True
    browser_key: str | None = "web-sign-in"
    """The name of the browser API key pages sign in with (unique in the project; lowercase
    letters, digits and hyphens), or None for no key."""
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        domains = self.authorized_domains
        if isinstance(domains, str) or not isinstance(domains, Sequence) or not domains:
            _fail(owner, "authorized_domains", "must be a non-empty list of host names", domains)
        for domain in domains:
            allowed = "each entry must be a lowercase host name without scheme or port"
            _check_match(owner, "authorized_domains", _DOMAIN, domain, allowed, tokens=False)
        if len(set(domains)) != len(domains):
            _fail(owner, "authorized_domains", "each domain may appear once", list(domains))
        if self.password_policy is not None and not isinstance(
            self.password_policy, PasswordPolicy
        ):
            allowed = "must be a PasswordPolicy, or None to leave the policy unmanaged"
            _fail(owner, "password_policy", allowed, self.password_policy)
        if self.mfa == "mandatory":
            _fail(
                owner,
                "mfa",
                "'mandatory' is refused: with TOTP the only second factor, an account enrolls it"
                " after a first-factor sign-in, so requiring it could lock new accounts out;"
                " use 'optional' and have the app require the second factor where it matters",
                self.mfa,
            )
        if not isinstance(self.mfa, str) or self.mfa not in MFA_STATES:
            _fail(owner, "mfa", f"must be one of {', '.join(MFA_STATES)}", self.mfa)
        _check_int(
            owner, "totp_adjacent_intervals", self.totp_adjacent_intervals, TOTP_ADJACENT_INTERVALS
        )
        _check_bool(owner, "allow_sign_up", self.allow_sign_up)
        if self.browser_key is not None and (
            not isinstance(self.browser_key, str) or not _KEY_NAME.fullmatch(self.browser_key)
        ):
            allowed = (
                "must be a key name (1-63 lowercase letters, digits or hyphens, starting with a"
                " letter, not ending with a hyphen), or None for no browser key"
            )
            _fail(owner, "browser_key", allowed, self.browser_key)


def browser_referrers(domains: Sequence[str]) -> list[str]:
    """The referrer patterns of the browser key: the pages on each authorized domain."""
    return [
        "http://localhost:*/*" if domain == "localhost" else f"https://{domain}/*"
        for domain in domains
    ]


class CustomerIdentity(Construct):
    """The project's Identity Platform configuration and its password policy.

    Attributes:
        config: the `IdentityPlatformConfig` resource.
        password_policy: the `terraform_data` that sets the policy, or None without one.
        password_policy_request: the JSON body it PATCHes (plain string), or None.
        browser_key: the `ApikeysKey` pages sign in with, or None without one.
        browser_key_string: that key's value (a sensitive Terraform token), or None.
    """

    def __init__(self, scope: Construct, id: str, props: CustomerIdentityProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources)
        state = MFA_STATES[props.mfa]
        totp = IdentityPlatformConfigMfaProviderConfigsTotpProviderConfig(
            adjacent_intervals=props.totp_adjacent_intervals
        )
        self.config = IdentityPlatformConfig(
            self,
            "config",
            project=props.project_id,
            authorized_domains=list(props.authorized_domains),
            sign_in=IdentityPlatformConfigSignIn(
                allow_duplicate_emails=False,
                email=IdentityPlatformConfigSignInEmail(enabled=True, password_required=True),
                anonymous=IdentityPlatformConfigSignInAnonymous(enabled=False),
                phone_number=IdentityPlatformConfigSignInPhoneNumber(enabled=False),
            ),
            mfa=IdentityPlatformConfigMfa(
                state=state,
                provider_configs=[
                    IdentityPlatformConfigMfaProviderConfigs(
                        state=state,
                        totp_provider_config=totp,
                    )
                ],
            ),
            client=IdentityPlatformConfigClient(
                permissions=IdentityPlatformConfigClientPermissions(
                    disabled_user_signup=not props.allow_sign_up,
                    # Users may close their own account.
                    disabled_user_deletion=False,
                )
            ),
            depends_on=after or None,
        )
        self.browser_key: ApikeysKey | None = None
        self.browser_key_string: str | None = None
        if props.browser_key is not None:
            self.browser_key = ApikeysKey(
                self,
                "browser-key",
                project=props.project_id,
                name=props.browser_key,
                display_name="Web sign-in (Identity Platform)",
                restrictions=ApikeysKeyRestrictions(
                    api_targets=[
                        ApikeysKeyRestrictionsApiTargets(service=api) for api in BROWSER_KEY_APIS
                    ],
                    browser_key_restrictions=ApikeysKeyRestrictionsBrowserKeyRestrictions(
                        allowed_referrers=browser_referrers(props.authorized_domains)
                    ),
                ),
                depends_on=after or None,
            )
            self.browser_key_string = self.browser_key.key_string
        self.password_policy: TerraformResource | None = None
        self.password_policy_request: str | None = None
        if props.password_policy is None:
            return
        request = {"passwordPolicyConfig": props.password_policy.api_config()}
        self.password_policy_request = json.dumps(request, sort_keys=True, separators=(",", ":"))
        # A plain `TerraformResource` of type `terraform_data`, not cdktn's `DataResource`,
        # which runs `terraform version` at every synth (see ProjectServices.ready).
        self.password_policy = TerraformResource(
            self,
            "password-policy",
            terraform_resource_type="terraform_data",
            depends_on=[self.config, *after],
            provisioners=[
                LocalExecProvisioner(
                    type="local-exec",
                    command=PATCH_COMMAND,
                    interpreter=["/bin/sh", "-c"],
                    environment={"PROJECT": props.project_id, "BODY": self.password_policy_request},
                )
            ],
        )
        self.password_policy.add_override(
            "triggers_replace",
            {"project": props.project_id, "request": self.password_policy_request},
        )
