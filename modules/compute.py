"""Compute layer: an Artifact Registry repository and Cloud Run v2 services for the agents.

Why: the api and the worker run as Cloud Run services, each under its own service account,
with Direct VPC egress into the private subnet (Redis and other private ranges) and images
pulled from a cleaned-up Artifact Registry repository. A later `terraform apply` never rolls
back an image that a deploy set: Terraform ignores image drift, the deploy command owns it.

Creates: `google_artifact_registry_repository` (DOCKER, cleanup policies) with reader grants;
`google_cloud_run_v2_service` with probes, scaling, env and Secret Manager env, and
`google_cloud_run_v2_service_iam_member` `roles/run.invoker` grants.

Example::

    repo = ArtifactRepository(stack, "images", ArtifactRepositoryProps(
        project_id="acme-agents-dev", region="europe-west1", repository_id="agents",
        labels={"app": "agents", "env": "dev"}))
    CloudRunService(stack, "worker", CloudRunServiceProps(
        project_id="acme-agents-dev", region="europe-west1", name="agents-worker",
        service_account_email="agents-dev-worker@acme-agents-dev.iam.gserviceaccount.com",
        labels={"app": "agents", "env": "dev"},
        env={"AGENT_ROLE": "worker"},
        secret_env={"REDIS_AUTH": SecretEnv(secret_id="agents-dev-redis-auth")},
        invokers=["serviceAccount:agents-dev-push@acme-agents-dev.iam.gserviceaccount.com"],
        network_name="agents-dev", subnet_name="agents-dev-europe-west1"))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_artifact_registry_repository: 1
      google_cloud_run_v2_service: 1
      google_cloud_run_v2_service_iam_member: 1
      resources: 3
    values:
      google_artifact_registry_repository.images_repository:
        {repository_id: agents, format: DOCKER, location: europe-west1}
      google_cloud_run_v2_service.worker_service:
        name: agents-worker
        ingress: INGRESS_TRAFFIC_INTERNAL_ONLY
        deletion_protection: true
        template:
          - service_account: agents-dev-worker@acme-agents-dev.iam.gserviceaccount.com
            vpc_access: [{egress: PRIVATE_RANGES_ONLY}]
            containers:
              - env:
                  - {name: AGENT_ROLE, value: worker}
                  - name: REDIS_AUTH
                    value_source: [{secret_key_ref: [{secret: agents-dev-redis-auth}]}]
      google_cloud_run_v2_service_iam_member.worker_invoker*:
        role: roles/run.invoker
        member: "serviceAccount:agents-dev-push@acme-agents-dev.iam.gserviceaccount.com"
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
INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
# Terraform leaves these alone after creation: the deploy command sets the image (and gcloud
# stamps client/client_version), so a later apply never rolls a deployed image back.
IGNORED_DRIFT = ["template[0].containers[0].image", "client", "client_version"]
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# Cloud Run's documented CPU values, with the memory range each allows, in MiB.
_CPU_MEMORY_MIB = {"1": (128, 4096), "2": (128, 8192), "4": (2048, 16384), "6": (4096, 24576),
                   "8": (4096, 32768)}  # fmt: skip
_RESERVED_ENV = {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,47}[a-z0-9])?")
_REPO_ID = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_MEMBER = re.compile(r"(user|serviceAccount|group|domain|principal|principalSet):\S+")
_SA_EMAIL = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]"
                       r"\.iam\.gserviceaccount\.com")  # fmt: skip
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_ID = re.compile(r"(projects/[^/]+/secrets/)?[A-Za-z0-9_-]{1,255}")
_MEMORY = re.compile(r"([1-9][0-9]*)(Mi|Gi)")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_KMS_KEY = re.compile(r"projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+")

# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: str) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: Any) -> NoReturn:
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _match(owner: str, name: str, pattern: re.Pattern[str], value: Any, allowed: str) -> None:
    """Check a plain string against a pattern; tokens from other resources pass unresolved."""
    if isinstance(value, str) and _unresolved(value):
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _fail(owner, name, allowed, value)


def _check_labels(owner: str, labels: Mapping[str, str]) -> None:
    if not {"app", "env"} <= set(labels):
        _fail(owner, "labels", "must include 'app' and 'env'", dict(labels))
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(str(value)):
            allowed = "keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}"
            _fail(owner, "labels", allowed, f"{key}={value}")


def _check_members(owner: str, name: str, members: Sequence[str]) -> None:
    if isinstance(members, str):
        _fail(owner, name, "must be a list of IAM members", members)
    for member in members:
        if member in PUBLIC_MEMBERS:
            _fail(owner, name, "must not grant allUsers/allAuthenticatedUsers (set public)", member)
        _match(owner, name, _MEMBER, member, "each must be an IAM member like 'user:a@b.c'")
    if len(set(members)) != len(members):
        _fail(owner, name, "must not repeat a member", list(members))


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


@dataclass(frozen=True, kw_only=True)
class ArtifactRepositoryProps:
    """Where the images live; `readers` get `roles/artifactregistry.reader` on the repository."""

    project_id: str
    region: str
    repository_id: str
    labels: Mapping[str, str]
    readers: Sequence[str] = ()
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
        _match(owner, "project_id", _PROJECT, self.project_id, "must be a GCP project id")
        _match(owner, "region", _REGION, self.region, "must be a region like 'europe-west1'")
        allowed = "must match [a-z]([-a-z0-9]{0,61}[a-z0-9])?"
        _match(owner, "repository_id", _REPO_ID, self.repository_id, allowed)
        _check_labels(owner, self.labels)
        _check_members(owner, "readers", self.readers)
        for name, high in (("keep_recent", 1000), ("untagged_max_age_days", 3650)):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= high:
                _fail(owner, name, f"must be an integer between 1 and {high}", value)
        _check_key(owner, self.kms_key_name, self.region)


class ArtifactRepository(Construct):
    """A DOCKER repository that keeps the newest images and deletes old untagged ones.

    Attributes: `repository` (the resource), `image_base` (`REGION-docker.pkg.dev/PROJECT/REPO`).
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
            description="Container images of the agent platform",
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
        for index, member in enumerate(props.readers):
            ArtifactRegistryRepositoryIamMember(
                self,
                f"reader-{_slug(member, index)}",
                project=props.project_id,
                location=props.region,
                repository=self.repository.name,
                role="roles/artifactregistry.reader",
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
        allowed = "must be a secret name or projects/P/secrets/NAME"
        _match("SecretEnv", "secret_id", _SECRET_ID, self.secret_id, allowed)
        if not (self.version == "latest" or (self.version.isdigit() and int(self.version) > 0)):
            _fail("SecretEnv", "version", "must be 'latest' or a positive number", self.version)


@dataclass(frozen=True, kw_only=True)
class CloudRunServiceProps:
    """One Cloud Run service; see the module docstring. Sizes follow Cloud Run's limits.

    `public=True` lets anyone invoke it: by an `allUsers` invoker grant, or, with
    `invoker_iam_disabled=True`, by turning Cloud Run's invoker check off instead, for
    organisations whose domain-restricted sharing forbids `allUsers`; that needs ingress
    `internal-and-cloud-load-balancing`, so that only a load balancer (and internal traffic)
    reaches it. `kms_key_name` encrypts the container image Cloud Run keeps with a
    customer-managed key in the region; the Cloud Run service agent needs
    `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `service_depends_on`.
    """

    project_id: str
    region: str
    name: str
    service_account_email: str
    labels: Mapping[str, str]
    image: str = PLACEHOLDER_IMAGE
    cpu: str = "1"
    memory: str = "512Mi"
    concurrency: int = 80
    min_instances: int = 0
    max_instances: int = 10
    timeout_seconds: int = 300
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, SecretEnv] = field(default_factory=dict)
    ingress: Literal["all", "internal", "internal-and-cloud-load-balancing"] = "internal"
    public: bool = False
    invoker_iam_disabled: bool = False
    invokers: Sequence[str] = ()
    network_name: str | None = None
    subnet_name: str | None = None
    deletion_protection: bool = True
    kms_key_name: str | None = None
    health_path: str = "/healthz"
    port: int = 8080
    service_depends_on: Sequence[Any] = ()
    """Resources the service alone waits for, before `depends_on_resources` (its invoker grants
    do not): e.g. the secrets of `secret_env` and their accessor grants."""
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _match(owner, "project_id", _PROJECT, self.project_id, "must be a GCP project id")
        _match(owner, "region", _REGION, self.region, "must be a region like 'europe-west1'")
        _match(owner, "name", _NAME, self.name, "must match [a-z]([-a-z0-9]{0,47}[a-z0-9])?")
        allowed = "must be a dedicated service account (NAME@PROJECT.iam.gserviceaccount.com)"
        _match(owner, "service_account_email", _SA_EMAIL, self.service_account_email, allowed)
        _check_labels(owner, self.labels)
        if not self.image or any(c.isspace() for c in self.image):
            _fail(owner, "image", "must be a container image reference", self.image)
        self._check_size(owner)
        self._check_env(owner)
        if self.ingress not in INGRESS:
            _fail(owner, "ingress", f"must be one of {sorted(INGRESS)}", self.ingress)
        if self.public and self.ingress == "internal":
            allowed = "public=True needs ingress 'all' or 'internal-and-cloud-load-balancing'"
            _fail(owner, "public", allowed, self.ingress)
        _check_members(owner, "invokers", self.invokers)
        self._check_invoker_iam_disabled(owner)
        if (self.network_name is None) != (self.subnet_name is None):
            allowed = "network_name and subnet_name must be given together"
            _fail(owner, "subnet_name", allowed, (self.network_name, self.subnet_name))
        _check_key(owner, self.kms_key_name, self.region)
        if not isinstance(self.health_path, str) or not self.health_path.startswith("/"):
            _fail(owner, "health_path", "must be a path starting with '/'", self.health_path)

    def _check_invoker_iam_disabled(self, owner: str) -> None:
        """Without the invoker check the ingress is all that stands between the service and
        the internet: only behind a load balancer, and only for a public service."""
        if not isinstance(self.invoker_iam_disabled, bool):
            _fail(owner, "invoker_iam_disabled", "must be true or false", self.invoker_iam_disabled)
        if not self.invoker_iam_disabled:
            return
        if self.ingress != "internal-and-cloud-load-balancing":
            allowed = (
                "needs ingress 'internal-and-cloud-load-balancing' (a load balancer in front):"
                " without the invoker check the ingress is the only gate"
            )
            _fail(owner, "invoker_iam_disabled", allowed, self.ingress)
        if not self.public:
            allowed = "needs public=True: with the invoker check off anyone who reaches it may call"
            _fail(owner, "invoker_iam_disabled", allowed, self.public)
        if self.invokers:
            allowed = "makes invokers pointless (every caller may invoke): leave them empty"
            _fail(owner, "invoker_iam_disabled", allowed, list(self.invokers))

    def _check_size(self, owner: str) -> None:
        if self.cpu not in _CPU_MEMORY_MIB:
            _fail(owner, "cpu", f"must be one of {list(_CPU_MEMORY_MIB)}", self.cpu)
        match = _MEMORY.fullmatch(self.memory)
        if not match:
            _fail(owner, "memory", "must look like '512Mi' or '2Gi'", self.memory)
        mib = int(match[1]) * (1024 if match[2] == "Gi" else 1)
        low, high = _CPU_MEMORY_MIB[self.cpu]
        if not low <= mib <= high:
            _fail(owner, "memory", f"with cpu {self.cpu} must be {low}Mi to {high}Mi", self.memory)
        ranges = {"concurrency": (1, 1000), "min_instances": (0, 1000),
                  "max_instances": (max(1, self.min_instances), 1000),
                  "timeout_seconds": (1, 3600), "port": (1, 65535)}  # fmt: skip
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                _fail(owner, name, f"must be an integer between {low} and {high}", value)

    def _check_env(self, owner: str) -> None:
        for field_name, names in (("env", self.env), ("secret_env", self.secret_env)):
            for name in names:
                if not _ENV_NAME.fullmatch(name) or name in _RESERVED_ENV:
                    allowed = f"names must match [A-Za-z_][A-Za-z0-9_]* and not be {_RESERVED_ENV}"
                    _fail(owner, field_name, allowed, name)
        for name, value in self.env.items():
            if not isinstance(value, str):
                _fail(owner, "env", f"values must be strings ({name})", value)
        for name, value in self.secret_env.items():
            if not isinstance(value, SecretEnv):
                _fail(owner, "secret_env", f"values must be SecretEnv ({name})", value)
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            _fail(owner, "secret_env", "must not repeat a name that env sets", both)


class CloudRunService(Construct):
    """A Cloud Run v2 service with its own service account, probes and invoker grants.

    Attributes: `service` (the resource), `name` (plain string), `uri` (token),
    `service_id` (token, `projects/P/locations/R/services/NAME`), `invokers` (grants by member).
    """

    def __init__(self, scope: Construct, id: str, props: CloudRunServiceProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources) or None
        vpc_access = None
        if props.subnet_name is not None:
            vpc_access = CloudRunV2ServiceTemplateVpcAccess(
                egress="PRIVATE_RANGES_ONLY",
                network_interfaces=[
                    CloudRunV2ServiceTemplateVpcAccessNetworkInterfaces(
                        network=props.network_name, subnetwork=props.subnet_name
                    )
                ],
            )
        self.service = CloudRunV2Service(
            self,
            "service",
            project=props.project_id,
            location=props.region,
            name=props.name,
            ingress=INGRESS[props.ingress],
            invoker_iam_disabled=props.invoker_iam_disabled or None,
            deletion_protection=props.deletion_protection,
            labels=dict(props.labels),
            template=CloudRunV2ServiceTemplate(
                service_account=props.service_account_email,
                execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                max_instance_request_concurrency=props.concurrency,
                timeout=f"{props.timeout_seconds}s",
                scaling=CloudRunV2ServiceTemplateScaling(
                    min_instance_count=props.min_instances,
                    max_instance_count=props.max_instances,
                ),
                vpc_access=vpc_access,
                encryption_key=props.kms_key_name,
                labels=dict(props.labels),
                containers=[_container(props)],
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=IGNORED_DRIFT),
            depends_on=[*props.service_depends_on, *props.depends_on_resources] or None,
        )
        self.name = props.name
        self.uri = self.service.uri
        self.service_id = self.service.id
        self.invokers: dict[str, CloudRunV2ServiceIamMember] = {}
        # Public through the invoker check turned off needs no allUsers grant.
        everyone = props.public and not props.invoker_iam_disabled
        members = list(props.invokers) + (["allUsers"] if everyone else [])
        for index, member in enumerate(members):
            self.invokers[member] = CloudRunV2ServiceIamMember(
                self,
                f"invoker-{_slug(member, index)}",
                project=props.project_id,
                location=props.region,
                name=self.service.name,
                role="roles/run.invoker",
                member=member,
                depends_on=after,
            )


def _container(props: CloudRunServiceProps) -> CloudRunV2ServiceTemplateContainers:
    """The one container: sized, probed on the health path, with plain and secret env."""
    env = [
        CloudRunV2ServiceTemplateContainersEnv(name=k, value=v)
        for k, v in sorted(props.env.items())
    ]
    for name, secret in sorted(props.secret_env.items()):
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
        image=props.image,
        ports=CloudRunV2ServiceTemplateContainersPorts(container_port=props.port),
        resources=CloudRunV2ServiceTemplateContainersResources(
            limits={"cpu": props.cpu, "memory": props.memory},
            cpu_idle=True,
            startup_cpu_boost=True,
        ),
        env=env or None,
        # Up to 60 s to start (12 x 5 s), then restarted after 3 failed checks 30 s apart.
        startup_probe=CloudRunV2ServiceTemplateContainersStartupProbe(
            http_get=CloudRunV2ServiceTemplateContainersStartupProbeHttpGet(
                path=props.health_path, port=props.port
            ),
            period_seconds=5,
            timeout_seconds=3,
            failure_threshold=12,
        ),
        liveness_probe=CloudRunV2ServiceTemplateContainersLivenessProbe(
            http_get=CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet(
                path=props.health_path, port=props.port
            ),
            period_seconds=30,
            timeout_seconds=5,
            failure_threshold=3,
        ),
    )
