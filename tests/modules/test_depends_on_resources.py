"""Every resource a module creates waits for its props' `depends_on_resources`.

One stack holds every module, each built with the options that make every kind of resource it
can create and with two enabled APIs as `depends_on_resources`. Each resource's `depends_on`
must then be exactly those APIs plus the resource's own dependencies inside its module (the
alert on its log-based metric, Redis on the Private Service Access connection, a Cloud Run
service on the secrets it reads). The APIs themselves wait for nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from tests.modules.conftest import LABELS, PROJECT, PROJECT_NUMBER, REGION

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"
WAIT_FOR = ("run.googleapis.com", "pubsub.googleapis.com")
# The construct ids each module's constructs get below, by module file.
BUILT_AS = {
    "compute": ("images", "api", "worker"),
    "customer_identity": ("customer-identity",),
    "edge": ("edge",),
    "identity": ("identity", "secret"),
    "kms": ("kms",),
    "messaging": ("messaging",),
    "network": ("network",),
    "observability": ("observability",),
    "scheduler": ("housekeeping",),
    "storage": ("firestore", "redis"),
}
WORKER_URL = "https://agents-dev-worker-123456789012.europe-west1.run.app"
PUSH_EMAIL = f"agents-dev-push@{PROJECT}.iam.gserviceaccount.com"
NETWORK_ID = f"projects/{PROJECT}/global/networks/agents-dev"
# What one resource waits for on its own (inside its module, or given for it alone as
# `CloudRunServiceProps.service_depends_on`), before the module's `depends_on_resources`.
OWN = {
    "test/observability/alert-inquiry-failures": "test/observability/inquiry-failures",
    "test/observability/alert-unprocessable-pushes": "test/observability/unprocessable-pushes",
    "test/observability/alert-stale-queued": "test/observability/stale-queued-passes",
    "test/observability/alert-handoff-wait": "test/observability/handoff-wait-passes",
    "test/api/service": "test/secret-grant",
    "test/worker/service": "test/secret-grant",
    "test/customer-identity/password-policy": "test/customer-identity/config",
    "test/kms/grant-pubsub": "test/kms/agent-pubsub",
}
# Redis waits for the PSA connection as the stack passes it: after the APIs, in the same list.
ALSO_GIVEN = {"test/redis/": "test/psa"}


def build(stack: Any, after: list[Any]) -> None:
    """Every module under `stack`, each waiting for `after`, with every option that adds a
    resource turned on."""
    from cdktn import TerraformVariable
    from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
    from cdktn_provider_google.secret_manager_secret_iam_member import (
        SecretManagerSecretIamMember,
    )

    from infra.app_signals import app_log_signals
    from infra.app_storage import APP_INDEXES, APP_TTL_POLICY
    from modules import (
        compute,
        customer_identity,
        edge,
        identity,
        kms,
        messaging,
        network,
        observability,
        scheduler,
        storage,
    )

    base = {"project_id": PROJECT, "region": REGION, "labels": LABELS}
    network.Network(
        stack,
        "network",
        network.NetworkProps(
            **base,
            name="agents-dev",
            ingress_rules=[network.IngressRule(name="iap", source_ranges=["35.235.240.0/20"])],
            depends_on_resources=after,
        ),
    )
    identity.WorkloadIdentity(
        stack,
        "identity",
        identity.WorkloadIdentityProps(
            project_id=PROJECT,
            project_number=PROJECT_NUMBER,
            name_prefix="agents-dev",
            firestore_database="agents-dev",
            workloads={
                "api": identity.Workload(
                    description="api", firestore=True, project_roles=["roles/aiplatform.user"]
                ),
                "push": identity.Workload(description="push", telemetry=False, pubsub_push=True),
            },
            depends_on_resources=after,
        ),
    )
    password = TerraformVariable(stack, "password", type="string", sensitive=True)
    identity.Secret(
        stack,
        "secret",
        identity.SecretProps(
            project_id=PROJECT,
            secret_id="agents-dev-redis-auth",
            iam={identity.ACCESSOR: ["group:readers@example.com"]},
            labels=LABELS,
            data=password.string_value,
            depends_on_resources=after,
        ),
    )
    kms.Kms(
        stack,
        "kms",
        kms.KmsProps(
            project_id=PROJECT,
            project_number=PROJECT_NUMBER,
            key_ring="agents-dev",
            keys={"pubsub": kms.Key(location="global")},
            labels=LABELS,
            depends_on_resources=after,
        ),
    )
    storage.FirestoreDatabase(
        stack,
        "firestore",
        storage.FirestoreDatabaseProps(
            project_id=PROJECT,
            location=REGION,
            deletion_protection=False,
            recovery=storage.Recovery(point_in_time=True, backup_retention_days=7),
            # The reference app's TTL policies and indexes (infra/app_storage.py).
            ttl=APP_TTL_POLICY,
            indexes=APP_INDEXES,
            depends_on_resources=after,
        ),
    )
    psa = ComputeGlobalAddress(stack, "psa", name="agents-dev-psa", network=NETWORK_ID)
    storage.RedisCache(
        stack,
        "redis",
        storage.RedisCacheProps(
            project_id=PROJECT,
            region=REGION,
            name="agents-dev-cache",
            tier="basic",
            network_id=NETWORK_ID,
            labels=LABELS,
            depends_on_resources=[*after, psa],  # as the stack passes them
        ),
    )
    messaging.Messaging(
        stack,
        "messaging",
        messaging.MessagingProps(
            project_id=PROJECT,
            project_number=PROJECT_NUMBER,
            name_prefix="agents-dev",
            labels=LABELS,
            topics={
                "inquiries": messaging.Topic(
                    name="agents-dev-inquiries",
                    iam={messaging.PUBLISHER: ["group:api@example.com"]},
                ),
                "events": messaging.Topic(
                    name="agents-dev-inquiry-events",
                    iam={
                        messaging.PUBLISHER: ["group:worker@example.com"],
                        messaging.SUBSCRIBER: ["group:listeners@example.com"],
                    },
                ),
            },
            push=messaging.PushSubscription(
                topic="inquiries",
                endpoint=f"{WORKER_URL}/pubsub/inquiries",
                service_account_email=PUSH_EMAIL,
                audience=WORKER_URL,
            ),
            depends_on_resources=after,
        ),
    )
    compute.ArtifactRepository(
        stack,
        "images",
        compute.ArtifactRepositoryProps(
            **base,
            repository_id="agents",
            iam={compute.READER: ["group:deployers@example.com"]},
            depends_on_resources=after,
        ),
    )
    secret_grant = SecretManagerSecretIamMember(
        stack,
        "secret-grant",
        secret_id="agents-dev-key",
        role="roles/secretmanager.secretAccessor",
        member="group:readers@example.com",
    )
    for role, invokers in (("api", ()), ("worker", (f"serviceAccount:{PUSH_EMAIL}",))):
        compute.CloudRunService(
            stack,
            role,
            compute.CloudRunServiceProps(
                **base,
                name=f"agents-dev-{role}",
                service_account_email=f"agents-dev-{role}@{PROJECT}.iam.gserviceaccount.com",
                access=compute.NetworkAccess(ingress="all", public=role == "api"),
                iam={compute.INVOKER: invokers},
                service_depends_on=[secret_grant],
                depends_on_resources=after,
            ),
        )
    scheduler.ScheduledCall(
        stack,
        "housekeeping",
        scheduler.ScheduledCallProps(
            project_id=PROJECT,
            region=REGION,
            name="agents-dev-housekeeping",
            target=scheduler.OidcTarget(
                url=f"{WORKER_URL}/tasks/housekeeping",
                service_account_email=PUSH_EMAIL,
                audience=WORKER_URL,
            ),
            depends_on_resources=after,
        ),
    )
    edge.Edge(
        stack,
        "edge",
        edge.EdgeProps(
            **base,
            name_prefix="agents-dev",
            cloud_run_service_name="agents-dev-api",
            domains=["api.example.com"],
            depends_on_resources=after,
        ),
    )
    customer_identity.CustomerIdentity(
        stack,
        "customer-identity",
        customer_identity.CustomerIdentityProps(
            project_id=PROJECT,
            authorized_domains=["api.example.com"],
            password_policy=customer_identity.PasswordPolicy(min_length=12),
            depends_on_resources=after,
        ),
    )
    observability.Observability(
        stack,
        "observability",
        observability.ObservabilityProps(
            project_id=PROJECT,
            name_prefix="agents-dev",
            labels=LABELS,
            api=observability.ApiWatch(service_name="agents-dev-api", host="api.example.com"),
            worker=observability.WorkerWatch(service_name="agents-dev-worker"),
            queue=observability.QueueWatch(
                push_subscription_name="agents-dev-inquiries-push",
                dead_letter_subscription_name="agents-dev-inquiries-dead-letter-pull",
            ),
            notifications=observability.Notifications(emails=["oncall@example.com"]),
            # The reference app's log signals (infra/app_signals.py): four alerts, each on
            # its own log-based metric.
            logs=app_log_signals("agents-dev", "agents-dev-api", "agents-dev-worker"),
            depends_on_resources=after,
        ),
    )


@pytest.fixture(scope="module")
def built(synth) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack's Terraform JSON and each resource's address by construct path."""
    from modules.project import ProjectServices, ProjectServicesProps

    def run(stack: Any) -> None:
        props = ProjectServicesProps(project_id=PROJECT, services=WAIT_FOR)
        build(stack, ProjectServices(stack, "apis", props).resources)

    tf = synth(run)
    addresses = {
        config["//"]["metadata"]["path"]: f"{rtype}.{name}"
        for rtype, instances in tf["resource"].items()
        for name, config in instances.items()
    }
    return tf, addresses


def created_by(tf: dict[str, Any], module: str) -> dict[str, dict[str, Any]]:
    """Every resource under the module's constructs, by address."""
    roots = tuple(f"test/{construct}/" for construct in BUILT_AS[module])
    return {
        f"{rtype}.{name}": config
        for rtype, instances in tf["resource"].items()
        for name, config in instances.items()
        if config["//"]["metadata"]["path"].startswith(roots)
    }


def resource_kinds(module: str) -> set[str]:
    """The resource types a module file can create: one per provider submodule it imports, and
    each `terraform_resource_type` it names (Terraform's built-in `terraform_data`)."""
    tree = ast.parse((MODULES_DIR / f"{module}.py").read_text())
    imported = {
        "google_" + node.module.split(".")[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("cdktn_provider_google.")
    }
    named = {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == "terraform_resource_type"
        and isinstance(node.value, ast.Constant)
    }
    return imported | named


def test_every_module_with_resources_is_built() -> None:
    on_disk = {p.stem for p in MODULES_DIR.glob("*.py")} - {"__init__", "project"}
    assert on_disk == set(BUILT_AS)


@pytest.mark.parametrize("module", sorted(BUILT_AS))
def test_every_resource_waits_for_depends_on_resources_after_its_own(built, module) -> None:
    tf, addresses = built
    apis = [addresses[f"test/apis/{api.replace('.', '-')}"] for api in WAIT_FOR]
    own = {addresses[path]: [addresses[needs]] for path, needs in OWN.items()}
    made = created_by(tf, module)
    # Every kind of resource the module can create is here, so none escapes the check.
    assert {address.split(".")[0] for address in made} == resource_kinds(module)
    for address, config in made.items():
        path = config["//"]["metadata"]["path"]
        given = apis + [addresses[v] for k, v in ALSO_GIVEN.items() if path.startswith(k)]
        assert config.get("depends_on") == [*own.get(address, []), *given], address


def test_the_apis_wait_for_nothing(built) -> None:
    tf, _ = built
    services = tf["resource"]["google_project_service"]
    assert len(services) == len(WAIT_FOR)
    assert all("depends_on" not in config for config in services.values())
