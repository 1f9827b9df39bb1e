"""Compute layer: an Artifact Registry repository and Cloud Run v2 services.

Why: each service runs as Cloud Run under its own service account, optionally with Direct VPC
egress into a private subnet (Redis and other private ranges), and its images are pulled from
a cleaned-up Artifact Registry repository. A later `terraform apply` never rolls back an image
that a deploy set: Terraform ignores image drift, the deploy command owns it.

Creates: `google_artifact_registry_repository` (DOCKER, cleanup policies) with its `iam`
grants; `google_cloud_run_v2_service` with probes, scaling, env and Secret Manager env, and
its `iam` grants (`roles/run.invoker` for who may call it). A service's props come in groups:
`Container` (image, size, port, env), `Scaling`, `Probes` and `NetworkAccess` (ingress,
public, Direct VPC egress).

Example::

    repo = ArtifactRepository(stack, "images", ArtifactRepositoryProps(
        project_id="acme-shop-prod", region="europe-west1", repository_id="shop",
        labels={"app": "shop", "env": "prod"},
        iam={READER: ["group:deployers@example.com"]}))
    CloudRunService(stack, "web", CloudRunServiceProps(
        project_id="acme-shop-prod", region="europe-west1", name="shop-web",
        service_account_email="shop-prod-web@acme-shop-prod.iam.gserviceaccount.com",
        labels={"app": "shop", "env": "prod"},
        container=Container(env={"SHOP_CURRENCY": "EUR"},
                            secret_env={"STRIPE_KEY": SecretEnv(secret_id="shop-prod-stripe-key")}),
        scaling=Scaling(max_instances=20),
        access=NetworkAccess(network_name="shop-prod", subnet_name="shop-prod-europe-west1"),
        iam={INVOKER: ["serviceAccount:shop-prod-cron@acme-shop-prod.iam.gserviceaccount.com"]}))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_artifact_registry_repository: 1
      google_artifact_registry_repository_iam_member: 1
      google_cloud_run_v2_service: 1
      google_cloud_run_v2_service_iam_member: 1
      resources: 4
    values:
      google_artifact_registry_repository.images_repository:
        {repository_id: shop, format: DOCKER, location: europe-west1}
      google_artifact_registry_repository_iam_member.images_reader-group-deployers-example-com:
        {role: roles/artifactregistry.reader, member: "group:deployers@example.com"}
      google_cloud_run_v2_service.web_service:
        name: shop-web
        ingress: INGRESS_TRAFFIC_INTERNAL_ONLY
        deletion_protection: true
        template:
          - service_account: shop-prod-web@acme-shop-prod.iam.gserviceaccount.com
            vpc_access: [{egress: PRIVATE_RANGES_ONLY}]
            scaling: [{max_instance_count: 20}]
            containers:
              - env:
                  - {name: SHOP_CURRENCY, value: EUR}
                  - name: STRIPE_KEY
                    value_source: [{secret_key_ref: [{secret: shop-prod-stripe-key}]}]
      google_cloud_run_v2_service_iam_member.web_invoker*:
        role: roles/run.invoker
        member: "serviceAccount:shop-prod-cron@acme-shop-prod.iam.gserviceaccount.com"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from cdktn import TerraformResourceLifecycle, Token
from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryCleanupPolicies,
    ArtifactRegistryRepositoryCleanupPoliciesCondition,
    ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
)
from cdktn_provider_google.artifact_registry_repository_iam_member import (
    ArtifactRegistryRepositoryIamMember,
)
from cdktn_provider_google.cloud_run_v2_service import (
    CloudRunV2Service,
    CloudRunV2ServiceTemplate,
    CloudRunV2ServiceTemplateContainers,
    CloudRunV2ServiceTemplateContainersEnv,
    CloudRunV2ServiceTemplateContainersEnvValueSource,
    CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef,
    CloudRunV2ServiceTemplateContainersLivenessProbe,
    CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet,
    CloudRunV2ServiceTemplateContainersPorts,
    CloudRunV2ServiceTemplateContainersResources,
    CloudRunV2ServiceTemplateContainersStartupProbe,
    CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
    CloudRunV2ServiceTemplateScaling,
    CloudRunV2ServiceTemplateVpcAccess,
    CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces,
)
from cdktn_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from constructs import Construct

PLACEHOLDER_IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"
Ingress = Literal["all", "internal", "internal-and-cloud-load-balancing"]
INGRESS: dict[str, str] = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
# Terraform leaves these alone after creation: the deploy command sets the image (and gcloud
# stamps client/client_version), so a later apply never rolls a deployed image back.
IGNORED_DRIFT = ["template[0].containers[0].image", "client", "client_version"]
# Cloud Run's documented CPU values, with the memory range each allows, in MiB.
CPU_MEMORY_MIB = {"1": (128, 4096), "2": (128, 8192), "4": (2048, 16384), "6": (4096, 24576),
                  "8": (4096, 32768)}  # fmt: skip
CPU_VALUES = tuple(CPU_MEMORY_MIB)
# Cloud Run's limits on instances, concurrent requests per instance and request time.
INSTANCES = (0, 1000)
CONCURRENCY = (1, 1000)
TIMEOUT_SECONDS = (1, 3600)
# How many images the repository keeps, and after how many days it deletes untagged ones.
KEEP_RECENT = (1, 1000)
UNTAGGED_MAX_AGE_DAYS = (1, 3650)
_RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,47}[a-z0-9])?")
_REPO_ID = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_SA_EMAIL = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                       r"\.iam\.gserviceaccount\.com")  # fmt: skip
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_ID = re.compile(r"(projects/[^/]+/secrets/)?[A-Za-z0-9_-]{1,255}")
_MEMORY = re.compile(r"([1-9][0-9]*)(Mi|Gi)")
_KMS_KEY = re.compile(r"projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+")


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


def _check_key(owner: str, key: str | None, region: str) -> None:
    """A customer-managed key (or a token) in the resource's region."""
    if key is None or (isinstance(key, str) and _unresolved(key)) or _unresolved(region):
        return
    found = _KMS_KEY.fullmatch(key) if isinstance(key, str) else None
    if found is None or found[1] != region:
        allowed = f"must be a Cloud KMS key in the region ({region}): projects/P/locations/"
        _fail(owner, "kms_key_name", allowed + f"{region}/keyRings/R/cryptoKeys/K", key)


def _slug(member: str, index: int) -> str:
    """A stable logical id for a member; tokens (unknown until apply) fall back to the index."""
    if _unresolved(member):
        return str(index)
    short = member.removesuffix(".iam.gserviceaccount.com")
    return re.sub(r"[^a-zA-Z0-9]+", "-", short).strip("-").lower()


def _grants(
    iam: Mapping[str, Sequence[str]], words: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """(logical id, role, member) of each grant: `<word>-<member>`, where `words` names the
    module's own roles ('reader', 'invoker') and any other role is named by its slug."""
    found = []
    for role, members in iam.items():
        word = words.get(role) or _slug(role.removeprefix("roles/"), 0)
        for index, member in enumerate(members):
            found.append((f"{word}-{_slug(member, index)}", role, member))
    return found


READER = "roles/artifactregistry.reader"
INVOKER = "roles/run.invoker"


@dataclass(frozen=True, kw_only=True)
class ArtifactRepositoryProps:
    """Where the images live. `iam` grants roles on the repository alone, role -> members
    (e.g. `{READER: ["group:deployers@example.com"]}`)."""

    project_id: str
    region: str
    repository_id: str
    labels: Mapping[str, str]
    description: str = "Container images"
    iam: Mapping[str, Sequence[str]] = field(default_factory=dict)
    keep_recent: int = 10
    untagged_max_age_days: int = 14
    # CMEK, in the region, chosen at creation only: the Artifact Registry service agent needs
    # roles/cloudkms.cryptoKeyEncrypterDecrypter on it first (pass that grant in
    # depends_on_resources).
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must be a region like 'europe-west1'"
        _check_match(owner, "region", _REGION, self.region, allowed, tokens=True)
        allowed = "must match [a-z]([-a-z0-9]{0,61}[a-z0-9])?"
        _check_match(owner, "repository_id", _REPO_ID, self.repository_id, allowed, tokens=True)
        _check_labels(owner, self.labels)
        ok = isinstance(self.description, str) and len(self.description) <= 2048
        _check(
            owner, "description", ok, "must be text of at most 2048 characters", self.description
        )
        object.__setattr__(self, "iam", _check_iam(owner, self.iam))
        _check_int(owner, "keep_recent", self.keep_recent, KEEP_RECENT)
        max_age = self.untagged_max_age_days
        _check_int(owner, "untagged_max_age_days", max_age, UNTAGGED_MAX_AGE_DAYS)
        _check_key(owner, self.kms_key_name, self.region)


class ArtifactRepository(Construct):
    """A DOCKER repository that keeps the newest images and deletes old untagged ones.

    Attributes: `repository` (the resource), `image_base` (`REGION-docker.pkg.dev/PROJECT/REPO`),
    `grants` (the `iam` grants, by logical id).
    """

    def __init__(self, scope: Construct, id: str, props: ArtifactRepositoryProps) -> None:
        super().__init__(scope, id)
        max_age = f"{props.untagged_max_age_days * 86400}s"
        after = list(props.depends_on_resources) or None
        self.repository = ArtifactRegistryRepository(
            self,
            "repository",
            project=props.project_id,
            location=props.region,
            repository_id=props.repository_id,
            format="DOCKER",
            description=props.description,
            labels=dict(props.labels),
            kms_key_name=props.kms_key_name,
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                ArtifactRegistryRepositoryCleanupPolicies(
                    id="keep-most-recent",
                    action="KEEP",
                    most_recent_versions=ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(
                        keep_count=props.keep_recent
                    ),
                ),
                ArtifactRegistryRepositoryCleanupPolicies(
                    id="delete-old-untagged",
                    action="DELETE",
                    condition=ArtifactRegistryRepositoryCleanupPoliciesCondition(
                        tag_state="UNTAGGED", older_than=max_age
                    ),
                ),
            ],
            depends_on=after,
        )
        self.grants: dict[str, ArtifactRegistryRepositoryIamMember] = {}
        for logical_id, role, member in _grants(props.iam, {READER: "reader"}):
            self.grants[logical_id] = ArtifactRegistryRepositoryIamMember(
                self,
                logical_id,
                project=props.project_id,
                location=props.region,
                repository=self.repository.name,
                role=role,
                member=member,
                depends_on=after,
            )
        self.image_base = f"{props.region}-docker.pkg.dev/{props.project_id}/{props.repository_id}"


@dataclass(frozen=True, kw_only=True)
class SecretEnv:
    """An env var read from Secret Manager: `secret_id` (name or full path) and its version."""

    secret_id: str
    version: str = "latest"

    def __post_init__(self) -> None:
        owner, allowed = type(self).__name__, "must be a secret name or projects/P/secrets/NAME"
        _check_match(owner, "secret_id", _SECRET_ID, self.secret_id, allowed, tokens=True)
        ok = self.version == "latest" or (self.version.isdigit() and int(self.version) > 0)
        _check(owner, "version", ok, "must be 'latest' or a positive number", self.version)


@dataclass(frozen=True, kw_only=True)
class Container:
    """What runs: the image, its size (Cloud Run's CPU values, `CPU_MEMORY_MIB`), the port it
    listens on, and its environment, plain (`env`) and from Secret Manager (`secret_env`)."""

    image: str = PLACEHOLDER_IMAGE
    cpu: str = "1"
    memory: str = "512Mi"
    port: int = 8080
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, SecretEnv] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        ok = isinstance(self.image, str) and bool(self.image)
        ok = ok and not any(c.isspace() for c in self.image)
        _check(owner, "image", ok, "must be a container image reference", self.image)
        _check(owner, "cpu", self.cpu in CPU_MEMORY_MIB, f"must be one of {CPU_VALUES}", self.cpu)
        match = _MEMORY.fullmatch(self.memory) if isinstance(self.memory, str) else None
        if match is None:
            _fail(owner, "memory", "must look like '512Mi' or '2Gi'", self.memory)
        mib = int(match[1]) * (1024 if match[2] == "Gi" else 1)
        low, high = CPU_MEMORY_MIB[self.cpu]
        allowed = f"with cpu {self.cpu} must be {low}Mi to {high}Mi"
        _check(owner, "memory", low <= mib <= high, allowed, self.memory)
        _check_int(owner, "port", self.port, (1, 65535))
        for field_name, names in (("env", self.env), ("secret_env", self.secret_env)):
            for name in names:
                ok = _matches(_ENV_NAME, name) and name not in _RESERVED_ENV
                allowed = f"names must match [A-Za-z_][A-Za-z0-9_]* and not be {_RESERVED_ENV}"
                _check(owner, field_name, ok, allowed, name)
        for name, value in self.env.items():
            _check(owner, "env", isinstance(value, str), f"values must be strings ({name})", value)
        for name, secret in self.secret_env.items():
            ok = isinstance(secret, SecretEnv)
            _check(owner, "secret_env", ok, f"values must be SecretEnv ({name})", secret)
        both = sorted(set(self.env) & set(self.secret_env))
        _check(owner, "secret_env", not both, "must not repeat a name that env sets", both)


@dataclass(frozen=True, kw_only=True)
class Scaling:
    """How many instances, how many requests each takes at once, how long one may run."""

    min_instances: int = 0
    max_instances: int = 10
    concurrency: int = 80
    timeout_seconds: int = 300

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_int(owner, "min_instances", self.min_instances, INSTANCES)
        low = max(1, self.min_instances)
        _check_int(owner, "max_instances", self.max_instances, (low, INSTANCES[1]))
        _check_int(owner, "concurrency", self.concurrency, CONCURRENCY)
        _check_int(owner, "timeout_seconds", self.timeout_seconds, TIMEOUT_SECONDS)


@dataclass(frozen=True, kw_only=True)
class Probes:
    """The HTTP health checks on `path`: the startup probe gives the container up to
    `startup_period_seconds * startup_failure_threshold` to answer, then the liveness probe
    restarts it after `liveness_failure_threshold` failed checks in a row."""

    path: str = "/healthz"
    startup_period_seconds: int = 5
    startup_timeout_seconds: int = 3
    startup_failure_threshold: int = 12
    liveness_period_seconds: int = 30
    liveness_timeout_seconds: int = 5
    liveness_failure_threshold: int = 3

    def __post_init__(self) -> None:
        owner = type(self).__name__
        ok = isinstance(self.path, str) and self.path.startswith("/")
        _check(owner, "path", ok, "must be a path starting with '/'", self.path)
        for probe in ("startup", "liveness"):
            period = getattr(self, f"{probe}_period_seconds")
            _check_int(owner, f"{probe}_period_seconds", period, (1, 3600))
            timeout = getattr(self, f"{probe}_timeout_seconds")
            _check_int(owner, f"{probe}_timeout_seconds", timeout, (1, min(period, 240)))
            threshold = getattr(self, f"{probe}_failure_threshold")
            _check_int(owner, f"{probe}_failure_threshold", threshold, (1, 240))


@dataclass(frozen=True, kw_only=True)
class NetworkAccess:
    """Who reaches the service, and what it reaches.

    `ingress`: where requests may come from. `public=True` lets anyone invoke it: by an
    `allUsers` invoker grant, or, with `invoker_iam_disabled=True`, by turning Cloud Run's
    invoker check off instead, for organisations whose domain-restricted sharing forbids
    `allUsers`; that needs ingress `internal-and-cloud-load-balancing`, so that only a load
    balancer (and internal traffic) reaches it. `network_name` and `subnet_name` (together)
    give it Direct VPC egress to private ranges.
    """

    ingress: Ingress = "internal"
    public: bool = False
    invoker_iam_disabled: bool = False
    network_name: str | None = None
    subnet_name: str | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        allowed = f"must be one of {sorted(INGRESS)}"
        _check(owner, "ingress", self.ingress in INGRESS, allowed, self.ingress)
        _check_bool(owner, "public", self.public)
        ok = not (self.public and self.ingress == "internal")
        allowed = "public=True needs ingress 'all' or 'internal-and-cloud-load-balancing'"
        _check(owner, "public", ok, allowed, self.ingress)
        _check_bool(owner, "invoker_iam_disabled", self.invoker_iam_disabled)
        if self.invoker_iam_disabled:
            # Without the invoker check the ingress is all that stands between the service
            # and the internet: only behind a load balancer, and only for a public service.
            ok = self.ingress == "internal-and-cloud-load-balancing"
            allowed = (
                "needs ingress 'internal-and-cloud-load-balancing' (a load balancer in front):"
                " without the invoker check the ingress is the only gate"
            )
            _check(owner, "invoker_iam_disabled", ok, allowed, self.ingress)
            allowed = "needs public=True: with the invoker check off anyone who reaches it may call"
            _check(owner, "invoker_iam_disabled", self.public, allowed, self.public)
        ok = (self.network_name is None) == (self.subnet_name is None)
        allowed = "network_name and subnet_name must be given together"
        _check(owner, "subnet_name", ok, allowed, (self.network_name, self.subnet_name))


@dataclass(frozen=True, kw_only=True)
class CloudRunServiceProps:
    """One Cloud Run service; see the module docstring. Sizes follow Cloud Run's limits.

    `iam` grants roles on the service alone, role -> members: `{INVOKER: [...]}` for who may
    call it (never `allUsers`: set `access.public`). `kms_key_name` encrypts the container
    image Cloud Run keeps with a customer-managed key in the region; the Cloud Run service
    agent needs `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `service_depends_on`.
    """

    project_id: str
    region: str
    name: str
    service_account_email: str
    labels: Mapping[str, str]
    container: Container = field(default_factory=Container)
    scaling: Scaling = field(default_factory=Scaling)
    probes: Probes = field(default_factory=Probes)
    access: NetworkAccess = field(default_factory=NetworkAccess)
    iam: Mapping[str, Sequence[str]] = field(default_factory=dict)
    deletion_protection: bool = True
    kms_key_name: str | None = None
    service_depends_on: Sequence[Any] = ()
    """Resources the service alone waits for, before `depends_on_resources` (its grants do
    not): e.g. the secrets of `container.secret_env` and their accessor grants."""
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must be a region like 'europe-west1'"
        _check_match(owner, "region", _REGION, self.region, allowed, tokens=True)
        allowed = "must match [a-z]([-a-z0-9]{0,47}[a-z0-9])?"
        _check_match(owner, "name", _NAME, self.name, allowed, tokens=True)
        allowed = "must be a dedicated service account (NAME@PROJECT.iam.gserviceaccount.com)"
        email = self.service_account_email
        _check_match(owner, "service_account_email", _SA_EMAIL, email, allowed, tokens=True)
        _check_labels(owner, self.labels)
        for name, kind in (
            ("container", Container),
            ("scaling", Scaling),
            ("probes", Probes),
            ("access", NetworkAccess),
        ):
            value = getattr(self, name)
            _check(owner, name, isinstance(value, kind), f"must be a {kind.__name__}", value)
        object.__setattr__(self, "iam", _check_iam(owner, self.iam))
        ok = not (self.access.invoker_iam_disabled and self.iam.get(INVOKER))
        allowed = "grants no invoker with access.invoker_iam_disabled (every caller may invoke)"
        _check(owner, "iam", ok, allowed, dict(self.iam))
        _check_bool(owner, "deletion_protection", self.deletion_protection)
        _check_key(owner, self.kms_key_name, self.region)


class CloudRunService(Construct):
    """A Cloud Run v2 service with its own service account, probes and grants.

    Attributes: `service` (the resource), `name` (plain string), `uri` (token),
    `service_id` (token, `projects/P/locations/R/services/NAME`), `invokers` (the
    `roles/run.invoker` grants, by member), `grants` (every grant, by logical id).
    """

    def __init__(self, scope: Construct, id: str, props: CloudRunServiceProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources) or None
        access, scaling = props.access, props.scaling
        vpc_access = None
        if access.subnet_name is not None:
            vpc_access = CloudRunV2ServiceTemplateVpcAccess(
                egress="PRIVATE_RANGES_ONLY",
                network_interfaces=[
                    CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces(
                        network=access.network_name, subnetwork=access.subnet_name
                    )
                ],
            )
        self.service = CloudRunV2Service(
            self,
            "service",
            project=props.project_id,
            location=props.region,
            name=props.name,
            ingress=INGRESS[access.ingress],
            invoker_iam_disabled=access.invoker_iam_disabled or None,
            deletion_protection=props.deletion_protection,
            labels=dict(props.labels),
            template=CloudRunV2ServiceTemplate(
                service_account=props.service_account_email,
                execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                max_instance_request_concurrency=scaling.concurrency,
                timeout=f"{scaling.timeout_seconds}s",
                scaling=CloudRunV2ServiceTemplateScaling(
                    min_instance_count=scaling.min_instances,
                    max_instance_count=scaling.max_instances,
                ),
                vpc_access=vpc_access,
                encryption_key=props.kms_key_name,
                labels=dict(props.labels),
                containers=[_container(props.container, props.probes)],
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=IGNORED_DRIFT),
            depends_on=[*props.service_depends_on, *props.depends_on_resources] or None,
        )
        self.name = props.name
        self.uri = self.service.uri
        self.service_id = self.service.id
        # Public through the invoker check turned off needs no allUsers grant.
        iam = {role: list(members) for role, members in props.iam.items()}
        if access.public and not access.invoker_iam_disabled:
            iam[INVOKER] = [*iam.get(INVOKER, []), "allUsers"]
        self.invokers: dict[str, CloudRunV2ServiceIamMember] = {}
        self.grants: dict[str, CloudRunV2ServiceIamMember] = {}
        for logical_id, role, member in _grants(iam, {INVOKER: "invoker"}):
            self.grants[logical_id] = CloudRunV2ServiceIamMember(
                self,
                logical_id,
                project=props.project_id,
                location=props.region,
                name=self.service.name,
                role=role,
                member=member,
                depends_on=after,
            )
            if role == INVOKER:
                self.invokers[member] = self.grants[logical_id]


def _container(container: Container, probes: Probes) -> CloudRunV2ServiceTemplateContainers:
    """The one container: sized, probed on the health path, with plain and secret env."""
    env = [
        CloudRunV2ServiceTemplateContainersEnv(name=k, value=v)
        for k, v in sorted(container.env.items())
    ]
    for name, secret in sorted(container.secret_env.items()):
        ref = CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef(
            secret=secret.secret_id, version=secret.version
        )
        env.append(
            CloudRunV2ServiceTemplateContainersEnv(
                name=name,
                value_source=CloudRunV2ServiceTemplateContainersEnvValueSource(secret_key_ref=ref),
            )
        )
    return CloudRunV2ServiceTemplateContainers(
        image=container.image,
        ports=CloudRunV2ServiceTemplateContainersPorts(container_port=container.port),
        resources=CloudRunV2ServiceTemplateContainersResources(
            limits={"cpu": container.cpu, "memory": container.memory},
            cpu_idle=True,
            startup_cpu_boost=True,
        ),
        env=env or None,
        startup_probe=CloudRunV2ServiceTemplateContainersStartupProbe(
            http_get=CloudRunV2ServiceTemplateContainersStartupProbeHttpGet(
                path=probes.path, port=container.port
            ),
            period_seconds=probes.startup_period_seconds,
            timeout_seconds=probes.startup_timeout_seconds,
            failure_threshold=probes.startup_failure_threshold,
        ),
        liveness_probe=CloudRunV2ServiceTemplateContainersLivenessProbe(
            http_get=CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet(
                path=probes.path, port=container.port
            ),
            period_seconds=probes.liveness_period_seconds,
            timeout_seconds=probes.liveness_timeout_seconds,
            failure_threshold=probes.liveness_failure_threshold,
        ),
    )
