"""One service account per workload, least-privilege grants, and Secret Manager secrets.

Why: a shared or default service account turns one compromised workload into all of them.
Each workload gets its own identity; its only project-level roles are the ones it is given:
log, metric and trace writing (`telemetry`), `roles/datastore.user` held to one Firestore
database by an IAM condition (`firestore`; Firestore has no database-level IAM resource), and
any predefined role listed for it. Every other grant is bound on the resource itself (a topic,
a service, a secret: each module's `iam`). Basic roles, and impersonation roles project-wide,
are refused.

Creates (WorkloadIdentity): one service account `<prefix>-<name>` per workload, its project
roles, and for a `pubsub_push` workload `roles/iam.serviceAccountTokenCreator` for the Pub/Sub
service agent on its account, so Pub/Sub can sign the OIDC tokens of push deliveries.
Creates (Secret): a secret with automatic replication, a version when `data` is given, and
the `iam` grants on that secret.

Example::

    identity = WorkloadIdentity(stack, "identity", WorkloadIdentityProps(
        project_id="acme-shop-prod",
        project_number="123456789012",
        name_prefix="shop-prod",
        firestore_database="shop-prod",
        workloads={
            "web": Workload(description="The storefront.", firestore=True),
            "mailer": Workload(description="Order emails.",
                               project_roles=["roles/cloudtranslate.user"]),
            "orders": Workload(description="Pub/Sub pushes orders as it.", telemetry=False,
                               pubsub_push=True),
        },
    ))
    stripe_key = Secret(stack, "stripe-key", SecretProps(
        project_id="acme-shop-prod",
        secret_id="shop-prod-stripe-key",
        iam={ACCESSOR: [identity.members["web"], identity.members["mailer"]]},
        labels={"app": "shop", "env": "prod"},
    ))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_project_iam_member: 8
      google_secret_manager_secret: 1
      google_secret_manager_secret_iam_member: 2
      google_service_account: 3
      google_service_account_iam_member: 1
      resources: 15
    values:
      google_service_account.identity_web: {account_id: shop-prod-web}
      google_service_account.identity_mailer: {account_id: shop-prod-mailer}
      google_service_account.identity_orders: {account_id: shop-prod-orders}
      google_project_iam_member.identity_web-datastore-user:
        role: roles/datastore.user
        condition: [{title: only-firestore-shop-prod}]
      google_project_iam_member.identity_mailer-cloudtranslate-user:
        {role: roles/cloudtranslate.user}
      google_service_account_iam_member.identity_orders-token-creator:
        role: roles/iam.serviceAccountTokenCreator
        member: "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
      google_secret_manager_secret.stripe-key_secret:
        {secret_id: shop-prod-stripe-key, replication: [{auto: [{}]}]}
      google_secret_manager_secret_iam_member.stripe-key_accessor-0:
        {role: roles/secretmanager.secretAccessor}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from cdktn import Token
from cdktn_provider_google.project_iam_member import ProjectIamMember, ProjectIamMemberCondition
from cdktn_provider_google.secret_manager_secret import (
    SecretManagerSecret,
    SecretManagerSecretReplication,
    SecretManagerSecretReplicationAuto,
    SecretManagerSecretReplicationAutoCustomerManagedEncryption,
)
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from cdktn_provider_google.secret_manager_secret_version import SecretManagerSecretVersion
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

BASE_PROJECT_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/cloudtrace.agent",
)
DATASTORE_ROLE = "roles/datastore.user"
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
# Project-wide, these let a workload act as every service account: bind them on one SA instead.
IMPERSONATION_ROLES = ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator")
ACCESSOR = "roles/secretmanager.secretAccessor"

_PROJECT_NUMBER = re.compile(r"[1-9][0-9]{5,19}")
_ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_WORKLOAD = re.compile(r"[a-z][a-z0-9-]{0,19}")
_DATABASE = re.compile(r"\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9]")
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
# An automatically replicated secret takes a customer-managed key in `global` only.
_GLOBAL_KEY = re.compile(r"projects/[^/]+/locations/global/keyRings/[^/]+/cryptoKeys/[^/]+")


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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One workload's service account and what it may do project-wide.

    `telemetry`: it writes logs, metrics and traces (`BASE_PROJECT_ROLES`). `firestore`: it
    reads and writes the one Firestore database of the props (`roles/datastore.user`, held to
    that database by an IAM condition). `project_roles`: any other project-wide roles
    (predefined ones; basic and impersonation roles are refused). `pubsub_push`: Pub/Sub
    presents this account's OIDC token when it pushes (its service agent may mint them).
    """

    description: str
    telemetry: bool = True
    firestore: bool = False
    project_roles: Sequence[str] = ()
    pubsub_push: bool = False

    def __post_init__(self) -> None:
        owner, field_name = type(self).__name__, "project_roles"
        ok = isinstance(self.description, str) and 0 < len(self.description) <= 256
        _check(owner, "description", ok, "must be 1-256 characters", self.description)
        for name in ("telemetry", "firestore", "pubsub_push"):
            _check_bool(owner, name, getattr(self, name))
        roles = self.project_roles
        _check(owner, field_name, _is_list(roles), "must be a list of roles", roles)
        granted = (*BASE_PROJECT_ROLES, DATASTORE_ROLE) if self.telemetry else (DATASTORE_ROLE,)
        for role in roles:
            _check(
                owner, field_name, _matches(_ROLE, role), "roles must look like 'roles/x.y'", role
            )
            msg = f"basic roles {BASIC_ROLES} are refused; grant a predefined role"
            _check(owner, field_name, role not in BASIC_ROLES, msg, role)
            msg = f"{IMPERSONATION_ROLES} are refused project-wide; bind them on one account"
            _check(owner, field_name, role not in IMPERSONATION_ROLES, msg, role)
            ok = role not in granted and list(roles).count(role) == 1
            msg = "roles granted already (telemetry, firestore), or listed twice, are refused"
            _check(owner, field_name, ok, msg, role)
        object.__setattr__(self, "project_roles", tuple(roles))

    def roles(self) -> list[str]:
        """Every project role of the workload, in the order they are granted."""
        base = list(BASE_PROJECT_ROLES) if self.telemetry else []
        return [*base, *([DATASTORE_ROLE] if self.firestore else []), *self.project_roles]


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityProps:
    """The project, the naming prefix, the workloads (by name: `<prefix>-<name>` is each
    account's id) and the one Firestore database those with `firestore` use."""

    project_id: str
    project_number: str
    name_prefix: str
    workloads: Mapping[str, Workload]
    firestore_database: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must be the project's number, digits only"
        _check_match(owner, "project_number", _PROJECT_NUMBER, self.project_number, allowed, False)
        workloads = self.workloads
        ok = isinstance(workloads, Mapping) and bool(workloads)
        _check(owner, "workloads", ok, "must map at least one name to a Workload", workloads)
        for name, workload in workloads.items():
            ok = _matches(_WORKLOAD, name)
            allowed = "names must be 1-20 lowercase letters, digits or hyphens, starting a-z"
            _check(owner, "workloads", ok, allowed, name)
            ok = isinstance(workload, Workload)
            _check(owner, f"workloads[{name}]", ok, "must be a Workload", workload)
        longest = max(workloads, key=len)
        ok = all(_matches(_ACCOUNT_ID, f"{self.name_prefix}-{name}") for name in workloads)
        msg = "must be lowercase letters, digits or hyphens, starting with a letter"
        allowed = f"{msg}, so that '<prefix>-{longest}' fits in 30"
        _check(owner, "name_prefix", ok, allowed, self.name_prefix)
        database = self.firestore_database
        if database is not None or any(w.firestore for w in workloads.values()):
            allowed = "must be '(default)' or a Firestore database id (a workload uses Firestore)"
            _check_match(owner, "firestore_database", _DATABASE, database, allowed, False)
        object.__setattr__(self, "workloads", dict(workloads))


class WorkloadIdentity(Construct):
    """One service account per workload, and their project roles.

    Attributes (each by workload name):
        accounts: the `ServiceAccount` resources.
        emails: their emails (tokens, so users wait for creation).
        members: `serviceAccount:<email>` members (tokens).
        pubsub_service_agent: the project's Pub/Sub service agent member (plain string).
        project_roles: every `ProjectIamMember`, by `<workload>-<role>`.
        token_creators: the Pub/Sub agent's grant on each `pubsub_push` account.
    """

    def __init__(self, scope: Construct, id: str, props: WorkloadIdentityProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources) or None
        self.accounts = {
            name: ServiceAccount(
                self,
                name,
                project=props.project_id,
                account_id=f"{props.name_prefix}-{name}",
                display_name=f"{props.name_prefix} {name}",
                description=workload.description,
                depends_on=after,
            )
            for name, workload in props.workloads.items()
        }
        # Each attribute read is a round trip to Node.js: read every token once.
        self.emails = {name: account.email for name, account in self.accounts.items()}
        self.members = {name: account.member for name, account in self.accounts.items()}
        self.pubsub_service_agent = (
            f"serviceAccount:service-{props.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )
        only_database = None
        if props.firestore_database is not None:
            database = f"projects/{props.project_id}/databases/{props.firestore_database}"
            only_database = ProjectIamMemberCondition(
                title=f"only-firestore-{_slug(props.firestore_database)}",
                description=f"Firestore access limited to {database}.",
                expression=(
                    f'resource.name == "{database}" || resource.name.startsWith("{database}/")'
                ),
            )
        self.project_roles: dict[str, ProjectIamMember] = {}
        for name, workload in props.workloads.items():
            for role in workload.roles():
                key = f"{name}-{_slug(role.removeprefix('roles/'))}"
                self.project_roles[key] = ProjectIamMember(
                    self,
                    key,
                    project=props.project_id,
                    role=role,
                    member=self.members[name],
                    condition=only_database if role == DATASTORE_ROLE else None,
                    depends_on=after,
                )
        self.token_creators: dict[str, ServiceAccountIamMember] = {}
        for name, workload in props.workloads.items():
            if workload.pubsub_push:
                self.token_creators[name] = ServiceAccountIamMember(
                    self,
                    f"{name}-token-creator",
                    service_account_id=self.accounts[name].name,
                    role="roles/iam.serviceAccountTokenCreator",
                    member=self.pubsub_service_agent,
                    depends_on=after,
                )


@dataclass(frozen=True, kw_only=True)
class SecretProps:
    """A secret, who may use it, and optionally its value (a Terraform token, never a literal).

    `iam` grants roles on this secret alone, role -> members: `{ACCESSOR: [...]}` for who may
    read its value. `kms_key_name` encrypts its versions with a customer-managed key in
    `global` (the secret replicates automatically); the Secret Manager service agent needs
    `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `depends_on_resources`."""

    project_id: str
    secret_id: str
    labels: Mapping[str, str]
    iam: Mapping[str, Sequence[str]] = field(default_factory=dict)
    data: str | None = None
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must be 1-255 letters, digits, _ or -"
        _check_match(owner, "secret_id", _SECRET_ID, self.secret_id, allowed, tokens=False)
        object.__setattr__(self, "iam", _check_iam(owner, self.iam))
        _check_labels(owner, self.labels)
        ok = self.data is None or _unresolved(self.data)
        msg = "must be None or a Terraform token (a literal would sit in cdk.tf.json in clear)"
        _check(owner, "data", ok, msg, "<literal string>" if isinstance(self.data, str) else None)
        key = self.kms_key_name
        ok = key is None or _matches(_GLOBAL_KEY, key, tokens=True)
        msg = "must be a Cloud KMS key in location global (projects/P/locations/global/keyRings/R/"
        allowed = msg + "cryptoKeys/K): the secret replicates automatically"
        _check(owner, "kms_key_name", ok, allowed, key)


class Secret(Construct):
    """A Secret Manager secret usable by the members of its `iam` alone.

    Attributes:
        secret: the `SecretManagerSecret`. secret_id: its id (a token, so users wait for it).
        version: the `SecretManagerSecretVersion` holding `data`, or None when none was given.
        grants: the `iam` grants, one per member (`accessor-<n>` for `ACCESSOR`).
        resources: everything a reader (e.g. Cloud Run) must wait for.
    """

    def __init__(self, scope: Construct, id: str, props: SecretProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources) or None
        encryption = None
        if props.kms_key_name is not None:
            encryption = SecretManagerSecretReplicationAutoCustomerManagedEncryption(
                kms_key_name=props.kms_key_name
            )
        self.secret = SecretManagerSecret(
            self,
            "secret",
            project=props.project_id,
            secret_id=props.secret_id,
            labels=dict(props.labels),
            replication=SecretManagerSecretReplication(
                auto=SecretManagerSecretReplicationAuto(customer_managed_encryption=encryption)
            ),
            depends_on=after,
        )
        self.secret_id: str = self.secret.secret_id
        secret = self.secret.id  # read once: each read is a round trip to Node.js
        self.version: SecretManagerSecretVersion | None = None
        if props.data is not None:
            self.version = SecretManagerSecretVersion(
                self, "version", secret=secret, secret_data=props.data, depends_on=after
            )
        self.grants = [
            SecretManagerSecretIamMember(
                self,
                f"{'accessor' if role == ACCESSOR else _slug(role.removeprefix('roles/'))}-{index}",
                project=props.project_id,
                secret_id=secret,
                role=role,
                member=member,
                depends_on=after,
            )
            for role, members in props.iam.items()
            for index, member in enumerate(members)
        ]
        self.resources: list[Any] = [self.secret, *self.grants]
        if self.version is not None:
            self.resources.append(self.version)
