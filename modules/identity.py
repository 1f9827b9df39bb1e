"""One service account per workload, least-privilege grants, and Secret Manager secrets.

Why: a shared or default service account turns one compromised workload into all of them.
Each workload gets its own identity; the only project-level roles are log and metric writing,
tracing, and `roles/datastore.user` held to one Firestore database by an IAM condition
(Firestore has no database-level IAM resource). Every other grant is bound on the resource
itself (the topic, the worker service, the secret). Basic roles are refused.

Creates (WorkloadIdentity): service accounts `<prefix>-api`, `<prefix>-worker`,
`<prefix>-push`; the project roles above for api and worker; `roles/iam.serviceAccountTokenCreator`
for the Pub/Sub service agent on the push service account, so Pub/Sub can sign the OIDC tokens
of push deliveries. Creates (Secret): a secret with automatic replication, a version when `data`
is given, and `roles/secretmanager.secretAccessor` on that secret for each accessor.

Example::

    identity = WorkloadIdentity(stack, "identity", WorkloadIdentityProps(
        project_id="acme-agents-dev",
        project_number="123456789012",
        name_prefix="agents-dev",
        firestore_database="agents-dev",
        extra_project_roles={"api": ["roles/aiplatform.user"]},
    ))
    redis_auth = Secret(stack, "redis-auth", SecretProps(
        project_id="acme-agents-dev",
        secret_id="agents-dev-redis-auth",
        accessors=[identity.api_member, identity.worker_member],
        labels={"app": "agents", "env": "dev"},
    ))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_project_iam_member: 9
      google_secret_manager_secret: 1
      google_secret_manager_secret_iam_member: 2
      google_service_account: 3
      google_service_account_iam_member: 1
      resources: 16
    values:
      google_service_account.identity_api: {account_id: agents-dev-api}
      google_service_account.identity_worker: {account_id: agents-dev-worker}
      google_service_account.identity_push: {account_id: agents-dev-push}
      google_project_iam_member.identity_api-datastore-user:
        role: roles/datastore.user
        condition: [{title: only-firestore-agents-dev}]
      google_project_iam_member.identity_api-aiplatform-user: {role: roles/aiplatform.user}
      google_service_account_iam_member.identity_push-token-creator:
        role: roles/iam.serviceAccountTokenCreator
        member: "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
      google_secret_manager_secret.redis-auth_secret:
        {secret_id: agents-dev-redis-auth, replication: [{auto: [{}]}]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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

WORKLOADS = ("api", "worker", "push")
_PURPOSES = {
    "api": "Runtime identity of the api Cloud Run service.",
    "worker": "Runtime identity of the worker Cloud Run service.",
    "push": "Identity Pub/Sub presents (OIDC token) when it pushes to the worker.",
}
BASE_PROJECT_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/cloudtrace.agent",
)
DATASTORE_ROLE = "roles/datastore.user"
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
# Project-wide, these let a workload act as every service account: bind them on one SA instead.
IMPERSONATION_ROLES = ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator")

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_PROJECT_NUMBER = re.compile(r"^[1-9][0-9]{5,19}$")
_ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATABASE = re.compile(r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$")
_ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)$")
_MEMBER = re.compile(r"^(serviceAccount|user|group|domain|principal|principalSet):\S+$")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# An automatically replicated secret takes a customer-managed key in `global` only.
_GLOBAL_KEY = re.compile(r"^projects/[^/]+/locations/global/keyRings/[^/]+/cryptoKeys/[^/]+$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_LABEL_RULE = "labels must be <= 63 lowercase letters, digits, _ or -"

# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: str) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _check(props: object, field_name: str, ok: bool, allowed: str, got: Any = None) -> None:
    """Raise `<PropsClass>.<field>: <allowed>, got <value>` unless ok."""
    if not ok:
        value = getattr(props, field_name) if got is None else got
        raise ValueError(f"{type(props).__name__}.{field_name}: {allowed}, got {value!r}")


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.match(value) is not None


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _check_labels(props: object, labels: object) -> None:
    ok = isinstance(labels, Mapping) and {"app", "env"} <= set(labels)
    _check(props, "labels", ok, "must be a mapping that includes 'app' and 'env'")
    for key, value in labels.items():  # type: ignore[union-attr]
        _check(props, "labels", _matches(_LABEL_KEY, key), _LABEL_RULE + ", keys start a-z", key)
        _check(props, "labels", _matches(_LABEL_VALUE, value), _LABEL_RULE, f"{key}={value}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityProps:
    """The project, the naming prefix, and the one Firestore database the workloads use."""

    project_id: str
    project_number: str
    name_prefix: str
    firestore_database: str
    extra_project_roles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        ok = _matches(_PROJECT_ID, self.project_id)
        _check(self, "project_id", ok, "must be 6-30 lowercase letters, digits or hyphens")
        ok = _matches(_PROJECT_NUMBER, self.project_number)
        _check(self, "project_number", ok, "must be the project's number, digits only")
        ok = all(_matches(_ACCOUNT_ID, f"{self.name_prefix}-{w}") for w in WORKLOADS)
        msg = "must be 2-23 lowercase letters, digits or hyphens, starting with a letter"
        _check(self, "name_prefix", ok, f"{msg}, so that '<prefix>-worker' fits in 30")
        ok = _matches(_DATABASE, self.firestore_database)
        _check(self, "firestore_database", ok, "must be '(default)' or a Firestore database id")
        extra = self.extra_project_roles
        _check(self, "extra_project_roles", isinstance(extra, Mapping), "must be a mapping")
        for workload, roles in extra.items():
            ok = workload in WORKLOADS
            _check(self, "extra_project_roles", ok, f"keys must be in {WORKLOADS}", workload)
            _check(self, "extra_project_roles", _is_list(roles), "values must be lists", roles)
            for role in roles:
                where, msg = f"{workload}: {role}", "roles must look like 'roles/x.y'"
                _check(self, "extra_project_roles", _matches(_ROLE, role), msg, where)
                msg = f"basic roles {BASIC_ROLES} are refused; grant a predefined role"
                _check(self, "extra_project_roles", role not in BASIC_ROLES, msg, where)
                msg = f"{IMPERSONATION_ROLES} are refused project-wide; bind them on one account"
                _check(self, "extra_project_roles", role not in IMPERSONATION_ROLES, msg, where)
                ok = role not in (*BASE_PROJECT_ROLES, DATASTORE_ROLE) and roles.count(role) == 1
                msg = "roles granted already, or listed twice, are refused"
                _check(self, "extra_project_roles", ok, msg, where)


class WorkloadIdentity(Construct):
    """The service accounts of the api, the worker and the push invoker, and their roles.

    Attributes:
        api, worker, push: the `ServiceAccount` resources.
        api_email, worker_email, push_email: their emails (tokens, so users wait for creation).
        api_member, worker_member, push_member: `serviceAccount:<email>` members (tokens).
        pubsub_service_agent: the project's Pub/Sub service agent member (plain string).
        project_roles: every `ProjectIamMember`, by `<workload>-<role>`.
    """

    def __init__(self, scope: Construct, id: str, props: WorkloadIdentityProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources) or None
        accounts = {
            workload: ServiceAccount(
                self,
                workload,
                project=props.project_id,
                account_id=f"{props.name_prefix}-{workload}",
                display_name=f"{props.name_prefix} {workload}",
                description=_PURPOSES[workload],
                depends_on=after,
            )
            for workload in WORKLOADS
        }
        self.api, self.worker, self.push = (accounts[w] for w in WORKLOADS)
        self.api_email, self.worker_email, self.push_email = (a.email for a in accounts.values())
        # Each attribute read is a round trip to Node.js: read every member token once.
        members = {workload: account.member for workload, account in accounts.items()}
        self.api_member, self.worker_member, self.push_member = members.values()
        self.pubsub_service_agent = (
            f"serviceAccount:service-{props.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )
        database = f"projects/{props.project_id}/databases/{props.firestore_database}"
        only_database = ProjectIamMemberCondition(
            title=f"only-firestore-{_slug(props.firestore_database)}",
            description=f"Firestore access limited to {database}.",
            expression=(
                f'resource.name == "{database}" || resource.name.startsWith("{database}/")'
            ),
        )
        grants: dict[str, list[str]] = {
            "api": [*BASE_PROJECT_ROLES, DATASTORE_ROLE],
            "worker": [*BASE_PROJECT_ROLES, DATASTORE_ROLE],
            "push": [],
        }
        for workload, roles in props.extra_project_roles.items():
            grants[workload].extend(roles)
        self.project_roles: dict[str, ProjectIamMember] = {}
        for workload, roles in grants.items():
            for role in roles:
                key = f"{workload}-{_slug(role.removeprefix('roles/'))}"
                self.project_roles[key] = ProjectIamMember(
                    self,
                    key,
                    project=props.project_id,
                    role=role,
                    member=members[workload],
                    condition=only_database if role == DATASTORE_ROLE else None,
                    depends_on=after,
                )
        self.push_token_creator = ServiceAccountIamMember(
            self,
            "push-token-creator",
            service_account_id=self.push.name,
            role="roles/iam.serviceAccountTokenCreator",
            member=self.pubsub_service_agent,
            depends_on=after,
        )


@dataclass(frozen=True, kw_only=True)
class SecretProps:
    """A secret, who may read it, and optionally its value (a Terraform token, never a literal).

    `kms_key_name` encrypts its versions with a customer-managed key in `global` (the secret
    replicates automatically); the Secret Manager service agent needs
    `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `depends_on_resources`."""

    project_id: str
    secret_id: str
    accessors: Sequence[str]
    labels: Mapping[str, str]
    data: str | None = None
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        ok = _matches(_PROJECT_ID, self.project_id)
        _check(self, "project_id", ok, "must be 6-30 lowercase letters, digits or hyphens")
        ok = _matches(_SECRET_ID, self.secret_id)
        _check(self, "secret_id", ok, "must be 1-255 letters, digits, _ or -")
        _check(self, "accessors", _is_list(self.accessors), "must be a list of IAM members")
        for member in self.accessors:
            ok = isinstance(member, str) and (_unresolved(member) or _matches(_MEMBER, member))
            msg = "each entry must be a member such as 'serviceAccount:a@p.iam.gserviceaccount.com'"
            _check(self, "accessors", ok, msg, member)
        ok = len(set(self.accessors)) == len(self.accessors)
        _check(self, "accessors", ok, "each member may appear once")
        _check_labels(self, self.labels)
        ok = self.data is None or (isinstance(self.data, str) and _unresolved(self.data))
        msg = "must be None or a Terraform token (a literal would sit in cdk.tf.json in clear)"
        _check(self, "data", ok, msg, "<literal string>" if isinstance(self.data, str) else None)
        key = self.kms_key_name
        ok = key is None or (
            isinstance(key, str) and (_unresolved(key) or _matches(_GLOBAL_KEY, key))
        )
        msg = "must be a Cloud KMS key in location global (projects/P/locations/global/keyRings/R/"
        _check(self, "kms_key_name", ok, msg + "cryptoKeys/K): the secret replicates automatically")


class Secret(Construct):
    """A Secret Manager secret readable by its accessors alone.

    Attributes:
        secret: the `SecretManagerSecret`. secret_id: its id (a token, so users wait for it).
        version: the `SecretManagerSecretVersion` holding `data`, or None when none was given.
        accessor_bindings: the accessor grants, one per member.
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
        self.accessor_bindings = [
            SecretManagerSecretIamMember(
                self,
                f"accessor-{index}",
                project=props.project_id,
                secret_id=secret,
                role="roles/secretmanager.secretAccessor",
                member=member,
                depends_on=after,
            )
            for index, member in enumerate(props.accessors)
        ]
        self.resources: list[Any] = [self.secret, *self.accessor_bindings]
        if self.version is not None:
            self.resources.append(self.version)
