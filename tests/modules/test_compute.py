"""The compute module: the image registry and the Cloud Run services of the agents."""

from __future__ import annotations

import re
from typing import Any

import pytest

from modules.compute import (
    INVOKER as RUN_INVOKER,
)
from modules.compute import (
    PLACEHOLDER_IMAGE,
    READER,
    ArtifactRepository,
    ArtifactRepositoryProps,
    CloudRunService,
    CloudRunServiceProps,
    Container,
    NetworkAccess,
    Probes,
    Scaling,
    SecretEnv,
)
from tests.modules.conftest import LABELS, PROJECT, REGION, resources

API_SA = f"agents-dev-api@{PROJECT}.iam.gserviceaccount.com"
WORKER_SA = f"agents-dev-worker@{PROJECT}.iam.gserviceaccount.com"
PUSH = f"serviceAccount:agents-dev-push@{PROJECT}.iam.gserviceaccount.com"
DEPLOYER = "group:deployers@example.com"
BASE = {"project_id": PROJECT, "region": REGION, "labels": LABELS}
RUN = "google_cloud_run_v2_service"
INVOKER = "google_cloud_run_v2_service_iam_member"
KEY = f"projects/{PROJECT}/locations/{REGION}/keyRings/agents-dev/cryptoKeys/{{}}"
BUILT: dict[str, Any] = {}


def build(stack: Any) -> None:
    from cdktn_provider_google.service_account import ServiceAccount

    BUILT["repo"] = ArtifactRepository(
        stack,
        "images",
        ArtifactRepositoryProps(
            **BASE,
            repository_id="agents",
            iam={READER: [DEPLOYER]},
            keep_recent=5,
            kms_key_name=KEY.format("artifact-registry"),
        ),
    )
    BUILT["api"] = CloudRunService(
        stack,
        "api",
        CloudRunServiceProps(
            **BASE,
            name="agents-dev-api",
            service_account_email=API_SA,
            container=Container(
                cpu="2",
                memory="1Gi",
                env={"AGENT_ROLE": "api", "STATE_BACKEND": "firestore"},
                secret_env={
                    "REDIS_AUTH": SecretEnv(secret_id="agents-dev-redis-auth", version="3")
                },
            ),
            scaling=Scaling(concurrency=40, min_instances=1, max_instances=5, timeout_seconds=120),
            access=NetworkAccess(
                ingress="internal-and-cloud-load-balancing",
                public=True,
                network_name="agents-dev",
                subnet_name="agents-dev-europe-west1",
            ),
        ),
    )
    BUILT["worker"] = CloudRunService(
        stack,
        "worker",
        CloudRunServiceProps(
            **BASE,
            name="agents-dev-worker",
            service_account_email=WORKER_SA,
            iam={RUN_INVOKER: [PUSH]},
            deletion_protection=False,
        ),
    )
    # Public behind a load balancer without an allUsers grant, its image under its own key.
    BUILT["gated"] = CloudRunService(
        stack,
        "gated",
        CloudRunServiceProps(
            **BASE,
            name="agents-dev-gated",
            service_account_email=API_SA,
            access=NetworkAccess(
                ingress="internal-and-cloud-load-balancing", public=True, invoker_iam_disabled=True
            ),
            kms_key_name=KEY.format("run"),
        ),
    )
    # Values known only at apply time (another resource's attributes) pass validation.
    late = ServiceAccount(stack, "late", account_id="agents-dev-late")
    CloudRunService(
        stack,
        "late-service",
        CloudRunServiceProps(
            **BASE,
            name="agents-dev-late",
            service_account_email=late.email,
            iam={RUN_INVOKER: [late.member]},
        ),
    )


@pytest.fixture(scope="module")
def tf(synth) -> dict[str, Any]:
    return synth(build)


def named(tf: dict[str, Any], resource_type: str, name: str) -> tuple[str, dict[str, Any]]:
    """The logical id and config of the resource of a type whose `name` is `name`."""
    found = [(k, r) for k, r in resources(tf, resource_type).items() if r.get("name") == name]
    assert len(found) == 1, f"{resource_type} named {name}: {found}"
    return found[0]


def invokers_of(tf: dict[str, Any], service: str) -> list[str]:
    logical, _ = named(tf, RUN, service)
    ref = f"${{{RUN}.{logical}.name}}"
    grants = [g for g in resources(tf, INVOKER).values() if g["name"] == ref]
    assert all(g["role"] == "roles/run.invoker" for g in grants)
    return sorted(g["member"] for g in grants)


def container(tf: dict[str, Any], service: str) -> dict[str, Any]:
    (only_container,) = named(tf, RUN, service)[1]["template"]["containers"]
    return only_container


def test_registry_is_docker_with_cleanup_policies(tf) -> None:
    (repo,) = resources(tf, "google_artifact_registry_repository").values()
    assert (repo["format"], repo["repository_id"], repo["location"]) == (
        "DOCKER",
        "agents",
        REGION,
    )
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    keep = policies["keep-most-recent"]
    assert (keep["action"], keep["most_recent_versions"]["keep_count"]) == ("KEEP", 5)
    delete = policies["delete-old-untagged"]
    assert delete["action"] == "DELETE"
    assert delete["condition"] == {"tag_state": "UNTAGGED", "older_than": f"{14 * 86400}s"}
    assert repo["cleanup_policy_dry_run"] is False
    assert repo["labels"] == LABELS


def test_registry_readers_are_granted_on_the_repository(tf) -> None:
    grants = list(resources(tf, "google_artifact_registry_repository_iam_member").values())
    assert [(g["role"], g["member"]) for g in grants] == [
        ("roles/artifactregistry.reader", DEPLOYER)
    ]
    assert BUILT["repo"].image_base == f"{REGION}-docker.pkg.dev/{PROJECT}/agents"


def test_each_service_runs_as_its_own_service_account(tf) -> None:
    assert named(tf, RUN, "agents-dev-api")[1]["template"]["service_account"] == API_SA
    assert named(tf, RUN, "agents-dev-worker")[1]["template"]["service_account"] == WORKER_SA


def test_scaling_concurrency_timeout_and_size_come_from_props(tf) -> None:
    template = named(tf, RUN, "agents-dev-api")[1]["template"]
    assert template["scaling"] == {"min_instance_count": 1, "max_instance_count": 5}
    assert template["max_instance_request_concurrency"] == 40
    assert template["timeout"] == "120s"
    resources_ = container(tf, "agents-dev-api")["resources"]
    assert resources_["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert resources_["cpu_idle"] is True and resources_["startup_cpu_boost"] is True
    worker = named(tf, RUN, "agents-dev-worker")[1]["template"]
    assert worker["scaling"] == {"min_instance_count": 0, "max_instance_count": 10}


def test_startup_and_liveness_probes_hit_healthz_on_the_port(tf) -> None:
    api = container(tf, "agents-dev-api")
    for probe in ("startup_probe", "liveness_probe"):
        assert api[probe]["http_get"] == {"path": "/healthz", "port": 8080}, probe
        assert api[probe]["timeout_seconds"] <= api[probe]["period_seconds"]
    assert api["ports"]["container_port"] == 8080
    assert api["image"] == PLACEHOLDER_IMAGE


def test_direct_vpc_egress_sends_private_ranges_into_the_subnet(tf) -> None:
    vpc = named(tf, RUN, "agents-dev-api")[1]["template"]["vpc_access"]
    assert vpc["egress"] == "PRIVATE_RANGES_ONLY"
    assert vpc["network_interfaces"] == [
        {"network": "agents-dev", "subnetwork": "agents-dev-europe-west1"}
    ]
    assert "vpc_access" not in named(tf, RUN, "agents-dev-worker")[1]["template"]


def test_env_and_secret_env_are_set_on_the_container(tf) -> None:
    env = {e["name"]: e for e in container(tf, "agents-dev-api")["env"]}
    assert env["AGENT_ROLE"]["value"] == "api"
    assert env["STATE_BACKEND"]["value"] == "firestore"
    assert env["REDIS_AUTH"] == {
        "name": "REDIS_AUTH",
        "value_source": {"secret_key_ref": {"secret": "agents-dev-redis-auth", "version": "3"}},
    }
    assert "env" not in container(tf, "agents-dev-worker")


def test_ingress_maps_to_the_cloud_run_values(tf) -> None:
    api = named(tf, RUN, "agents-dev-api")[1]
    assert api["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert named(tf, RUN, "agents-dev-worker")[1]["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


def test_deletion_protection_follows_props(tf) -> None:
    assert named(tf, RUN, "agents-dev-api")[1]["deletion_protection"] is True
    assert named(tf, RUN, "agents-dev-worker")[1]["deletion_protection"] is False


def test_terraform_never_rolls_back_a_deployed_image(tf) -> None:
    for service in ("agents-dev-api", "agents-dev-worker"):
        ignored = named(tf, RUN, service)[1]["lifecycle"]["ignore_changes"]
        assert "template[0].containers[0].image" in ignored
        assert {"client", "client_version"} <= set(ignored)


def test_invokers_are_exactly_the_given_members_and_all_users_only_when_public(tf) -> None:
    assert invokers_of(tf, "agents-dev-worker") == [PUSH]
    assert invokers_of(tf, "agents-dev-api") == ["allUsers"]
    public = [g for g in resources(tf, INVOKER).values() if g["member"] == "allUsers"]
    assert len(public) == 1


def test_public_with_the_invoker_check_off_grants_no_one(tf) -> None:
    """Domain-restricted sharing forbids allUsers: the invoker check is off instead."""
    _, gated = named(tf, RUN, "agents-dev-gated")
    assert gated["invoker_iam_disabled"] is True
    assert gated["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert invokers_of(tf, "agents-dev-gated") == []
    for service in ("agents-dev-api", "agents-dev-worker"):
        assert "invoker_iam_disabled" not in named(tf, RUN, service)[1]


def test_customer_managed_keys_encrypt_the_images_where_given(tf) -> None:
    (repo,) = resources(tf, "google_artifact_registry_repository").values()
    assert repo["kms_key_name"] == KEY.format("artifact-registry")
    _, gated = named(tf, RUN, "agents-dev-gated")
    assert gated["template"]["encryption_key"] == KEY.format("run")
    assert "encryption_key" not in named(tf, RUN, "agents-dev-api")[1]["template"]


def test_apply_time_values_pass_and_get_index_based_ids(tf) -> None:
    logical, late = named(tf, RUN, "agents-dev-late")
    assert late["template"]["service_account"] == "${google_service_account.late.email}"
    ref = f"${{{RUN}.{logical}.name}}"
    (grant_id,) = [k for k, g in resources(tf, INVOKER).items() if g["name"] == ref]
    assert "invoker-0" in grant_id
    assert resources(tf, INVOKER)[grant_id]["member"] == "${google_service_account.late.member}"
    assert BUILT["api"].name == "agents-dev-api"
    assert BUILT["api"].uri.startswith("${TfToken[")


GOOD = {**BASE, "name": "agents-dev-api", "service_account_email": API_SA}
INVOKERS = re.escape(f"iam[{RUN_INVOKER}]")
GATED = {"ingress": "internal-and-cloud-load-balancing", "public": True}


@pytest.mark.parametrize(
    ("props", "changes", "field"),
    [
        (CloudRunServiceProps, {"iam": {RUN_INVOKER: ["allUsers"]}}, INVOKERS),
        (CloudRunServiceProps, {"iam": {RUN_INVOKER: ["allAuthenticatedUsers"]}}, INVOKERS),
        (CloudRunServiceProps, {"iam": {RUN_INVOKER: ["someone@example.com"]}}, INVOKERS),
        (CloudRunServiceProps, {"iam": {RUN_INVOKER: [PUSH, PUSH]}}, INVOKERS),
        (NetworkAccess, {"public": True, "ingress": "internal"}, "public"),
        (NetworkAccess, {"ingress": "public"}, "ingress"),
        (Container, {"cpu": "3"}, "cpu"),
        (Container, {"memory": "8Gi"}, "memory"),
        (Container, {"memory": "512MB"}, "memory"),
        (Scaling, {"min_instances": 4, "max_instances": 2}, "max_instances"),
        (Scaling, {"concurrency": 0}, "concurrency"),
        (Scaling, {"timeout_seconds": 3601}, "timeout_seconds"),
        (
            CloudRunServiceProps,
            {"service_account_email": "123-compute@developer.gserviceaccount.com"},
            "service_account_email",
        ),
        (CloudRunServiceProps, {"name": "Agents_API"}, "name"),
        (Container, {"env": {"1BAD": "x"}}, "env"),
        (Container, {"env": {"PORT": "9000"}}, "env"),
        (
            Container,
            {"env": {"A": "1"}, "secret_env": {"A": SecretEnv(secret_id="a")}},
            "secret_env",
        ),
        (NetworkAccess, {"subnet_name": "agents-dev-europe-west1"}, "subnet_name"),
        (CloudRunServiceProps, {"labels": {"app": "agents"}}, "labels"),
        (CloudRunServiceProps, {"labels": {**LABELS, "Team": "x"}}, "labels"),
        (Probes, {"path": "healthz"}, "path"),
        (Container, {"port": 0}, "port"),
        (CloudRunServiceProps, {"region": "Europe"}, "region"),
        (CloudRunServiceProps, {"kms_key_name": "run"}, "kms_key_name"),
        (
            CloudRunServiceProps,
            {"kms_key_name": KEY.format("run").replace(REGION, "global")},
            "kms_key_name",
        ),
        (NetworkAccess, {"invoker_iam_disabled": "yes"}, "invoker_iam_disabled"),
        (
            NetworkAccess,
            {"invoker_iam_disabled": True, "public": True, "ingress": "all"},
            "invoker_iam_disabled",
        ),
        (
            NetworkAccess,
            {"invoker_iam_disabled": True, "ingress": "internal-and-cloud-load-balancing"},
            "invoker_iam_disabled",
        ),
        (
            CloudRunServiceProps,
            {
                "access": NetworkAccess(**GATED, invoker_iam_disabled=True),
                "iam": {RUN_INVOKER: [PUSH]},
            },
            "iam",
        ),
        (CloudRunServiceProps, {"scaling": {"min_instances": 1}}, "scaling"),
    ],
)
def test_bad_service_props_name_the_field(props: type, changes: dict[str, Any], field: str) -> None:
    base = GOOD if props is CloudRunServiceProps else {}
    with pytest.raises(ValueError, match=rf"^{props.__name__}\.{field}: .+, got "):
        props(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"repository_id": "Agents"}, "repository_id"),
        ({"keep_recent": 0}, "keep_recent"),
        ({"iam": {READER: ["allUsers"]}}, re.escape(f"iam[{READER}]")),
        ({"iam": {"owner": [DEPLOYER]}}, "iam"),
        ({"project_id": "x"}, "project_id"),
        ({"kms_key_name": "projects/p/locations/us/keyRings/r/cryptoKeys/k"}, "kms_key_name"),
    ],
)
def test_bad_repository_props_name_the_field(changes: dict[str, Any], field: str) -> None:
    good = {**BASE, "repository_id": "agents"}
    with pytest.raises(ValueError, match=rf"^ArtifactRepositoryProps\.{field}: .+, got "):
        ArtifactRepositoryProps(**{**good, **changes})


def test_bad_secret_env_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^SecretEnv\.version: .+, got 'v1'"):
        SecretEnv(secret_id="redis-auth", version="v1")
    with pytest.raises(ValueError, match=r"^SecretEnv\.secret_id: "):
        SecretEnv(secret_id="bad secret")


def test_public_through_the_load_balancer_or_all_is_allowed() -> None:
    for ingress in ("all", "internal-and-cloud-load-balancing"):
        access = NetworkAccess(public=True, ingress=ingress)
        assert CloudRunServiceProps(**GOOD, access=access).access.public
