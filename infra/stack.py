"""One Terraform stack per environment: the modules wired together from its config.

Why this file: the modules know nothing of each other; this is the one place that decides
how the layers connect (who may publish where, which service reaches Redis, what the app's
env vars are) for an environment, and it stores the stack's state in that environment's
own bucket. Naming is deterministic from `name_prefix`, so two environments never collide.
"""

from __future__ import annotations

from typing import Any

from cdktn import GcsBackend, TerraformOutput, TerraformStack
from cdktn_provider_google.provider import GoogleProvider
from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from constructs import Construct

from infra.app_env import PlatformRefs, check_production_env, service_env, service_secret_env
from infra.app_signals import MODEL_USAGE_EVENT, app_log_signals, app_runbooks
from infra.app_storage import APP_INDEXES, APP_TTL_POLICY
from infra.config import Environment
from infra.skips import skip_check
from modules.compute import (
    INVOKER,
    ArtifactRepository,
    ArtifactRepositoryProps,
    CloudRunService,
    CloudRunServiceProps,
    Container,
    Ingress,
    NetworkAccess,
    Scaling,
    SecretEnv,
)
from modules.customer_identity import CustomerIdentity, CustomerIdentityProps, PasswordPolicy
from modules.edge import ArmorPolicy, Edge, EdgeProps
from modules.identity import (
    ACCESSOR,
    Secret,
    SecretProps,
    Workload,
    WorkloadIdentity,
    WorkloadIdentityProps,
)
from modules.kms import Key, Kms, KmsProps
from modules.messaging import PUBLISHER, Messaging, MessagingProps, PushSubscription, Topic
from modules.network import AddressPlan, Network, NetworkLogging, NetworkProps
from modules.observability import (
    ApiWatch,
    Notifications,
    Observability,
    ObservabilityProps,
    QueueWatch,
    WorkerWatch,
)
from modules.project import ProjectServices, ProjectServicesProps
from modules.scheduler import OidcTarget, ScheduledCall, ScheduledCallProps
from modules.storage import (
    FirestoreDatabase,
    FirestoreDatabaseProps,
    Recovery,
    RedisCache,
    RedisCacheProps,
)

# The APIs the platform's layers use, enabled in each environment's project.
PLATFORM_SERVICES: tuple[str, ...] = (
    "run.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "firestore.googleapis.com",
    "redis.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "compute.googleapis.com",
    "servicenetworking.googleapis.com",
    "monitoring.googleapis.com",
    "logging.googleapis.com",
    "cloudtrace.googleapis.com",
    "iam.googleapis.com",
    "aiplatform.googleapis.com",
    # Scheduled calls to the worker (housekeeping), a cron that survives scale to zero.
    "cloudscheduler.googleapis.com",
    # Terraform manages project IAM bindings through the Resource Manager API.
    "cloudresourcemanager.googleapis.com",
    # Identity Platform: the end users' accounts and the ID tokens they sign in with; the
    # Secure Token API refreshes those tokens in the browser, with an API key (API Keys API).
    "identitytoolkit.googleapis.com",
    "securetoken.googleapis.com",
    "apikeys.googleapis.com",
)
GEMINI_ROLES = ("roles/aiplatform.user",)
KMS_API = "cloudkms.googleapis.com"
PUSH_PATH = "/pubsub/inquiries"
HOUSEKEEPING_PATH = "/tasks/housekeeping"


def run_app_url(service: str, project_number: str, region: str) -> str:
    """Cloud Run's deterministic URL: known before the service exists, so no dependency cycle."""
    return f"https://{service}-{project_number}.{region}.run.app"


class EnvironmentStack(TerraformStack):
    """The whole platform for one environment; its attributes are the modules' constructs."""

    def __init__(self, scope: Construct, env: Environment) -> None:
        super().__init__(scope, env.name)
        self.env = env
        self.cfg = env.config
        self.labels = env.labels
        self.prefix = self.cfg.name_prefix
        self.api_name, self.worker_name = f"{self.prefix}-api", f"{self.prefix}-worker"
        self.worker_url = run_app_url(self.worker_name, self.cfg.project_number, self.cfg.region)

        GoogleProvider(
            self,
            "google",
            project=self.cfg.project_id,
            region=self.cfg.region,
            default_labels=self.labels,
        )
        GcsBackend(self, bucket=self.cfg.state.bucket, prefix=self.cfg.state.prefix)

        self._foundation()
        self._encryption()
        self._customer_identity()
        self._storage()
        self._messaging()
        self._compute()
        self._housekeeping()
        self._edge()
        self._observability()
        self._outputs()
        self._accepted_checkov_findings()

    def _foundation(self) -> None:
        """APIs, network and identities: what every other layer builds on.

        Every resource of the stack waits for every API, so a first apply on a fresh project
        works: Terraform orders only what it knows depends on what, and each API must be on
        before its first resource is created. Each waits through the one gate that depends on
        every API (`self.after_apis`, passed to each module as `depends_on_resources`), which
        orders create and destroy as naming all the APIs would, with one `depends_on` entry.
        """
        cfg = self.cfg
        services = (*PLATFORM_SERVICES, KMS_API) if cfg.encryption.cmek else PLATFORM_SERVICES
        self.apis = ProjectServices(
            self, "project", ProjectServicesProps(project_id=cfg.project_id, services=services)
        )
        self.after_apis = [self.apis.ready]
        self.network = Network(
            self,
            "network",
            NetworkProps(
                project_id=cfg.project_id,
                region=cfg.region,
                name=self.prefix,
                labels=self.labels,
                addresses=AddressPlan(
                    subnet_cidr=cfg.network.subnet_cidr,
                    psa_prefix_length=cfg.network.psa_prefix_length,
                ),
                logging=NetworkLogging(flow_log_sampling=cfg.network.flow_log_sampling),
                depends_on_resources=self.after_apis,
            ),
        )
        model_roles = GEMINI_ROLES if cfg.app.model == "gemini" else ()
        self.identity = WorkloadIdentity(
            self,
            "identity",
            WorkloadIdentityProps(
                project_id=cfg.project_id,
                project_number=cfg.project_number,
                name_prefix=self.prefix,
                firestore_database=cfg.firestore.database,
                workloads={
                    "api": Workload(
                        description="Runtime identity of the api Cloud Run service.",
                        firestore=True,
                        project_roles=model_roles,
                    ),
                    "worker": Workload(
                        description="Runtime identity of the worker Cloud Run service.",
                        firestore=True,
                        project_roles=model_roles,
                    ),
                    "push": Workload(
                        description=(
                            "Identity Pub/Sub presents (OIDC token) when it pushes to the worker."
                        ),
                        telemetry=False,
                        pubsub_push=True,
                    ),
                },
                depends_on_resources=self.after_apis,
            ),
        )
        self.readers = [self.identity.members["api"], self.identity.members["worker"]]

    def _encryption(self) -> None:
        """Customer-managed keys, where the environment asks: one per use, where its data is.

        Every resource that stores data gets its key's name and waits for its key's grant to
        the service agent that encrypts it (`_key`). Keys are protected from destroy wherever
        the environment protects anything they encrypt: a destroyed key leaves what it
        encrypted, kept by the deletion protection, unreadable.
        """
        cfg = self.cfg
        self.kms: Kms | None = None
        self.keys_protected = (
            cfg.firestore.delete_protection
            or cfg.redis.deletion_protection
            or cfg.compute.deletion_protection
        )
        if not cfg.encryption.cmek:
            return
        firestore_location = cfg.firestore.kms_location
        # EnvironmentConfig refuses cmek where Cloud KMS has no location for the database.
        assert firestore_location is not None
        locations = {
            "firestore": firestore_location,
            "pubsub": "global",  # topics are global: Pub/Sub advises a global key
            "artifact-registry": cfg.region,
            "run": cfg.region,
        }
        if cfg.redis.tier != "off":
            # The stack's only secret is Redis's AUTH string, replicated automatically.
            locations.update({"redis": cfg.region, "secrets": "global"})
        rotation_days = cfg.encryption.rotation_days
        keys = {
            use: Key(location=location, rotation_days=rotation_days)
            for use, location in locations.items()
        }
        self.kms = Kms(
            self,
            "kms",
            KmsProps(
                project_id=cfg.project_id,
                project_number=cfg.project_number,
                key_ring=self.prefix,
                keys=keys,
                labels=self.labels,
                deletion_protection=self.keys_protected,
                depends_on_resources=self.after_apis,
            ),
        )

    def _key(self, use: str) -> tuple[str | None, list[Any]]:
        """The key name for `use` and what its user waits for (its grant); none without CMEK."""
        if self.kms is None:
            return None, []
        return self.kms.key_ids[use], self.kms.ready[use]

    def _customer_identity(self) -> None:
        """Identity Platform: the customers' accounts, whose ID tokens the api verifies."""
        auth = self.cfg.auth
        self.customer_identity = CustomerIdentity(
            self,
            "customer-identity",
            CustomerIdentityProps(
                project_id=self.cfg.project_id,
                authorized_domains=self._sign_in_domains(),
                password_policy=PasswordPolicy(**auth.password_policy.model_dump()),
                mfa=auth.mfa,
                # The pages' sign-in key: the api serves it to them (WEB_API_KEY).
                browser_key=f"{self.prefix}-web-sign-in",
                depends_on_resources=self.after_apis,
            ),
        )

    def _sign_in_domains(self) -> list[str]:
        """Where customers sign in: the api's public hosts, then the file's extra domains."""
        hosts = [*self._public_api_hosts(), *self.cfg.auth.authorized_domains]
        return list(dict.fromkeys(hosts))

    def _public_api_hosts(self) -> list[str]:
        """The api's public hosts: the edge domains, else its run.app host if it is public."""
        cfg = self.cfg
        if cfg.edge.enabled:
            return list(cfg.edge.domains)
        if cfg.compute.api.public:
            url = run_app_url(self.api_name, cfg.project_number, cfg.region)
            return [url.removeprefix("https://")]
        return []

    def _storage(self) -> None:
        """Firestore always; Redis and its AUTH secret unless the environment turns it off."""
        cfg = self.cfg
        key, key_ready = self._key("firestore")
        self.database = FirestoreDatabase(
            self,
            "firestore",
            FirestoreDatabaseProps(
                project_id=cfg.project_id,
                location=cfg.firestore.location,
                name=cfg.firestore.database,
                deletion_protection=cfg.firestore.delete_protection,
                recovery=Recovery(
                    point_in_time=cfg.firestore.point_in_time_recovery,
                    backup_retention_days=cfg.firestore.backup_retention_days,
                ),
                ttl=APP_TTL_POLICY,
                indexes=APP_INDEXES,
                kms_key_name=key,
                depends_on_resources=[*self.after_apis, *key_ready],
            ),
        )
        self.redis: RedisCache | None = None
        self.redis_auth: Secret | None = None
        if cfg.redis.tier == "off":
            return
        key, key_ready = self._key("redis")
        self.redis = RedisCache(
            self,
            "redis",
            RedisCacheProps(
                project_id=cfg.project_id,
                region=cfg.region,
                name=f"{self.prefix}-cache",
                tier=cfg.redis.tier,
                memory_size_gb=cfg.redis.memory_size_gb,
                network_id=self.network.network_id,
                labels=self.labels,
                deletion_protection=cfg.redis.deletion_protection,
                kms_key_name=key,
                depends_on_resources=[*self.after_apis, self.network.psa_connection, *key_ready],
            ),
        )
        key, key_ready = self._key("secrets")
        self.redis_auth = Secret(
            self,
            "redis-auth",
            SecretProps(
                project_id=cfg.project_id,
                secret_id=f"{self.prefix}-redis-auth",
                iam={ACCESSOR: self.readers},
                labels=self.labels,
                data=self.redis.auth_string,
                kms_key_name=key,
                depends_on_resources=[*self.after_apis, *key_ready],
            ),
        )

    def _messaging(self) -> None:
        """Topics and the push subscription to the worker's deterministic URL."""
        cfg, identity = self.cfg, self.identity
        key, key_ready = self._key("pubsub")
        publishers = {PUBLISHER: [identity.members["api"], identity.members["worker"]]}
        self.messaging = Messaging(
            self,
            "messaging",
            MessagingProps(
                project_id=cfg.project_id,
                project_number=cfg.project_number,
                name_prefix=self.prefix,
                labels=self.labels,
                # Who runs code that publishes where (tests/infra/test_publish_grants.py
                # derives it from the app): the api accepts inquiries; the worker's
                # housekeeping republishes those whose first publish failed, and the worker
                # publishes the inquiry events; the api announces a customer's request for a
                # person (handoff.requested) on the events topic.
                topics={
                    "inquiries": Topic(name=f"{self.prefix}-inquiries", iam=publishers),
                    "events": Topic(name=f"{self.prefix}-inquiry-events", iam=publishers),
                },
                push=PushSubscription(
                    topic="inquiries",
                    endpoint=f"{self.worker_url}{PUSH_PATH}",
                    service_account_email=identity.emails["push"],
                    audience=self.worker_url,
                    ack_deadline_seconds=cfg.messaging.ack_deadline_seconds,
                    minimum_backoff_seconds=cfg.messaging.minimum_backoff_seconds,
                    maximum_backoff_seconds=cfg.messaging.maximum_backoff_seconds,
                    max_delivery_attempts=cfg.messaging.max_delivery_attempts,
                ),
                message_retention_seconds=cfg.messaging.message_retention_seconds,
                kms_key_name=key,
                depends_on_resources=[*self.after_apis, *key_ready],
            ),
        )

    def _compute(self) -> None:
        """The image repository and the two services, with the app's env block."""
        cfg, identity = self.cfg, self.identity
        key, key_ready = self._key("artifact-registry")
        self.images = ArtifactRepository(
            self,
            "images",
            ArtifactRepositoryProps(
                project_id=cfg.project_id,
                region=cfg.region,
                repository_id=self.prefix,
                labels=self.labels,
                description="Container images of the agent platform",
                keep_recent=cfg.compute.artifact_keep_recent,
                kms_key_name=key,
                depends_on_resources=[*self.after_apis, *key_ready],
            ),
        )
        refs = PlatformRefs(
            database_name=self.database.database_name,
            inquiries_topic_path=self.messaging.topic_paths["inquiries"],
            events_topic_path=self.messaging.topic_paths["events"],
            push_audience=self.worker_url,
            push_service_account=identity.emails["push"],
            redis_host=self.redis.host if self.redis else None,
            redis_ca_cert=self.redis.server_ca_cert if self.redis else None,
            redis_auth_secret_id=self.redis_auth.secret_id if self.redis_auth else None,
            web_api_key=self.customer_identity.browser_key_string,
        )
        run_key, run_key_ready = self._key("run")
        shared_ready = list(self.redis_auth.resources) if self.redis_auth else []
        shared_ready += self._callback_key_grants() + run_key_ready
        secrets_ready = {"api": shared_ready + self._pseudonym_key_grants(), "worker": shared_ready}

        api_ingress: Ingress
        if cfg.edge.enabled:
            api_ingress = "internal-and-cloud-load-balancing"
        else:
            api_ingress = "all" if cfg.compute.api.public else "internal"
        self.services: dict[str, CloudRunService] = {}
        for role, name, sizing, email in (
            ("api", self.api_name, cfg.compute.api, identity.emails["api"]),
            ("worker", self.worker_name, cfg.compute.worker, identity.emails["worker"]),
        ):
            is_api = role == "api"
            env = service_env(role, cfg, refs)
            secret_env = {
                name: SecretEnv(secret_id=secret_id)
                for name, secret_id in service_secret_env(role, cfg, refs).items()
            }
            # Fail the synth, not the first request, when a service lacks what its role needs.
            check_production_env(role, {**env, **{n: f"secret:{n}" for n in secret_env}})
            self.services[role] = CloudRunService(
                self,
                role,
                CloudRunServiceProps(
                    project_id=cfg.project_id,
                    region=cfg.region,
                    name=name,
                    service_account_email=email,
                    labels=self.labels,
                    container=Container(
                        cpu=sizing.cpu, memory=sizing.memory, env=env, secret_env=secret_env
                    ),
                    scaling=Scaling(
                        min_instances=sizing.min_instances,
                        max_instances=sizing.max_instances,
                        concurrency=sizing.concurrency,
                        timeout_seconds=sizing.timeout_seconds,
                    ),
                    access=NetworkAccess(
                        ingress=api_ingress if is_api else "internal",
                        public=cfg.compute.api.public if is_api else False,
                        invoker_iam_disabled=is_api and cfg.compute.api.invoker_iam_disabled,
                        network_name=self.network.network_name,
                        subnet_name=self.network.subnet_name,
                    ),
                    iam={} if is_api else {INVOKER: [identity.members["push"]]},
                    deletion_protection=cfg.compute.deletion_protection,
                    kms_key_name=run_key,
                    service_depends_on=secrets_ready[role],
                    depends_on_resources=self.after_apis,
                ),
            )
        self.api, self.worker = self.services["api"], self.services["worker"]

    def _housekeeping(self) -> None:
        """Cloud Scheduler calls the worker's housekeeping endpoint every few minutes.

        The worker has CPU only while it serves a request (cpu_idle) and dev scales to zero,
        so an inquiry whose publish failed is republished by this call, not by a thread. It
        calls as the push identity, which already holds run.invoker on the worker and is the
        one caller the worker verifies; Cloud Scheduler's service agent mints its token
        through the role it gets when the API is enabled (see modules/scheduler.py).
        """
        cfg = self.cfg
        self.housekeeping = ScheduledCall(
            self,
            "housekeeping",
            ScheduledCallProps(
                project_id=cfg.project_id,
                region=cfg.region,
                name=f"{self.prefix}-housekeeping",
                target=OidcTarget(
                    url=f"{self.worker_url}{HOUSEKEEPING_PATH}",
                    service_account_email=self.identity.emails["push"],
                    audience=self.worker_url,
                ),
                description="Runs one housekeeping pass of the target service.",
                depends_on_resources=self.after_apis,
            ),
        )

    def _edge(self) -> None:
        """The load balancer with Cloud Armor, where the environment turns it on."""
        cfg = self.cfg
        self.edge: Edge | None = None
        if not cfg.edge.enabled:
            return
        self.edge = Edge(
            self,
            "edge",
            EdgeProps(
                project_id=cfg.project_id,
                region=cfg.region,
                name_prefix=self.prefix,
                cloud_run_service_name=self.api.name,
                domains=cfg.edge.domains,
                labels=self.labels,
                armor=ArmorPolicy(
                    rate_limit_requests_per_minute=cfg.edge.rate_limit_requests_per_minute
                ),
                depends_on_resources=self.after_apis,
            ),
        )

    def _observability(self) -> None:
        cfg = self.cfg
        self.observability = Observability(
            self,
            "observability",
            ObservabilityProps(
                project_id=cfg.project_id,
                name_prefix=self.prefix,
                labels=self.labels,
                api=ApiWatch(
                    service_name=self.api.name,
                    host=self._uptime_host(),
                    error_ratio_threshold=cfg.observability.error_ratio_threshold,
                    latency_p95_ms=cfg.observability.latency_p95_ms,
                ),
                worker=WorkerWatch(service_name=self.worker.name),
                queue=QueueWatch(
                    push_subscription_name=self.messaging.push_subscription_name,
                    dead_letter_subscription_name=self.messaging.dead_letter_subscription_name,
                ),
                notifications=Notifications(emails=cfg.observability.notification_emails),
                log_retention_days=cfg.observability.log_retention_days,
                # What the app's own log lines tell, and the runbooks in words about the app.
                logs=app_log_signals(
                    self.prefix,
                    self.api.name,
                    self.worker.name,
                    handoff_wait_threshold=cfg.observability.handoff_wait_threshold,
                    model_usage_event=MODEL_USAGE_EVENT,
                ),
                runbooks=app_runbooks(
                    self.api.name,
                    self.worker.name,
                    self.messaging.dead_letter_subscription_name,
                    error_ratio_threshold=cfg.observability.error_ratio_threshold,
                    latency_p95_ms=cfg.observability.latency_p95_ms,
                ),
                dashboard_title=f"{self.prefix} agents",
                depends_on_resources=self.after_apis,
            ),
        )

    def _accepted_checkov_findings(self) -> None:
        """Checks that do not apply here, each skipped on its resource with the reason.

        With `encryption.cmek` on, the customer-managed key checks pass and are not skipped;
        keys left destroyable (nothing the environment keeps is protected) are skipped."""
        if self.kms is not None:
            if not self.keys_protected:
                for key in self.kms.keys.values():
                    skip_check(
                        key,
                        "CKV_GCP_82",
                        "This environment protects none of the data the key encrypts from"
                        " destroy (firestore.delete_protection, redis.deletion_protection and"
                        " compute.deletion_protection are off), so its keys may be destroyed"
                        " with it.",
                    )
            return
        for topic in (*self.messaging.topics.values(), self.messaging.dead_letter_topic):
            skip_check(
                topic,
                "CKV_GCP_83",
                "Messages carry ids (inquiry, session, customer) and states only, never a"
                " message's text or contact details; Pub/Sub encrypts them at rest with"
                " Google-managed keys, as this environment leaves encryption.cmek off.",
            )
        skip_check(
            self.images.repository,
            "CKV_GCP_84",
            "Container images hold code, not customer data, and are encrypted at rest with"
            " Google-managed keys, as this environment leaves encryption.cmek off.",
        )

    def _callback_key_grants(self) -> list[SecretManagerSecretIamMember]:
        """Read access on the user's existing callback signing secret, bound on that secret."""
        return self._existing_secret_grants(
            "callback-key-reader", self.cfg.app.callback_signing_secret, self.readers
        )

    def _pseudonym_key_grants(self) -> list[SecretManagerSecretIamMember]:
        """The api alone reads the user's existing log pseudonym key, bound on that secret."""
        return self._existing_secret_grants(
            "pseudonym-key-reader",
            self.cfg.auth.pseudonym_key_secret,
            [self.identity.members["api"]],
        )

    def _existing_secret_grants(
        self, name: str, secret_id: str | None, members: list[str]
    ) -> list[SecretManagerSecretIamMember]:
        """`roles/secretmanager.secretAccessor` for each member on a secret the user created."""
        if secret_id is None:
            return []
        return [
            SecretManagerSecretIamMember(
                self,
                f"{name}-{index}",
                project=self.cfg.project_id,
                secret_id=secret_id,
                role="roles/secretmanager.secretAccessor",
                member=member,
                depends_on=self.after_apis,
            )
            for index, member in enumerate(members)
        ]

    def _uptime_host(self) -> str | None:
        """Where the uptime check calls `/healthz`: the edge domain, else the public run.app."""
        if not self.cfg.observability.uptime_check:
            return None
        return next(iter(self._public_api_hosts()), None)

    def _outputs(self) -> None:
        TerraformOutput(self, "api_url", value=self.api.uri)
        TerraformOutput(self, "worker_url", value=self.worker_url)
        TerraformOutput(self, "image_base", value=self.images.image_base)
        if self.edge is not None:
            TerraformOutput(self, "edge_ip", value=self.edge.address)
            TerraformOutput(self, "edge_url", value=self.edge.url)
