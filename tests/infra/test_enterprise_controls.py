"""Enterprise controls, held against every synthesized environment: customer-managed keys on
everything that stores data where `encryption.cmek` is on (prod), and no `allUsers` grant where
`compute.api.invoker_iam_disabled` is (prod)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.checkov_gate import declared_skips
from tests.infra.conftest import ENV_NAMES, api_gate, resources

ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
# Each resource type that takes a customer-managed key: the use of its key, and where it is.
KEY_OF: dict[str, tuple[str, tuple[str, ...]]] = {
    "google_firestore_database": ("firestore", ("cmek_config", "kms_key_name")),
    "google_pubsub_topic": ("pubsub", ("kms_key_name",)),
    "google_artifact_registry_repository": ("artifact-registry", ("kms_key_name",)),
    "google_secret_manager_secret": (
        "secrets",
        ("replication", "auto", "customer_managed_encryption", "kms_key_name"),
    ),
    "google_redis_instance": ("redis", ("customer_managed_key",)),
    "google_cloud_run_v2_service": ("run", ("template", "encryption_key")),
}
# The service agent that encrypts with each use's key, and the API that makes it.
AGENT_OF = {
    "firestore": ("gcp-sa-firestore", "firestore.googleapis.com"),
    "pubsub": ("gcp-sa-pubsub", "pubsub.googleapis.com"),
    "artifact-registry": ("gcp-sa-artifactregistry", "artifactregistry.googleapis.com"),
    "secrets": ("gcp-sa-secretmanager", "secretmanager.googleapis.com"),
    "redis": ("cloud-redis", "redis.googleapis.com"),
    "run": ("serverless-robot-prod", "run.googleapis.com"),
}
KEY_NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/([^/]+)")


@pytest.fixture(params=ENV_NAMES)
def stack(request: pytest.FixtureRequest, synthesized: Any) -> tuple[str, dict[str, Any], Any]:
    name = request.param
    return name, synthesized.stacks[name], synthesized.envs[name].config


def key_of(config: dict[str, Any], path: tuple[str, ...]) -> str | None:
    """The key name at `path` in a resource's config, or None."""
    for step in path:
        if not isinstance(config, dict) or step not in config:
            return None
        config = config[step]
    return config  # type: ignore[return-value]


def expected_location(use: str, cfg: Any) -> str:
    """Where each use's key must be: the data's location, or global."""
    if use == "firestore":
        return cfg.firestore.kms_location
    return "global" if use in {"pubsub", "secrets"} else cfg.region


def test_the_shipped_environments_cover_both_settings(synthesized: Any) -> None:
    """So that both paths below are held against a real environment: prod with everything on."""
    configs = {name: env.config for name, env in synthesized.envs.items()}
    assert configs["prod"].encryption.cmek and configs["prod"].compute.api.invoker_iam_disabled
    assert not configs["dev"].encryption.cmek
    assert not configs["dev"].compute.api.invoker_iam_disabled


def test_every_resource_that_stores_data_is_encrypted_with_its_own_key_after_its_grant(
    stack: Any,
) -> None:
    """With CMEK on: each such resource names its use's key, that key is the stack's own (ring
    and location as named), is granted to the one service agent that encrypts with it, and the
    resource waits for that grant, which waits for the agent's creation."""
    name, tf, cfg = stack
    keys = resources(tf, "google_kms_crypto_key")
    if not cfg.encryption.cmek:  # the test below holds what such an environment does
        assert not keys and not resources(tf, "google_kms_crypto_key_iam_member"), name
        return
    rings = resources(tf, "google_kms_key_ring")
    grants = resources(tf, "google_kms_crypto_key_iam_member")
    agents = resources(tf, "terraform_data")
    checked = 0
    for rtype, (use, path) in KEY_OF.items():
        for rname, config in resources(tf, rtype).items():
            address = f"{rtype}.{rname}"
            key_name = key_of(config, path)
            assert key_name, f"{name}: {address} has no customer-managed key"
            project, location, ring_name, key = KEY_NAME.fullmatch(key_name).groups()
            assert (project, ring_name, key) == (cfg.project_id, cfg.name_prefix, use), address
            assert location == expected_location(use, cfg), address
            (key_id,) = (k for k, c in keys.items() if c["name"] == use)
            ring = keys[key_id]["key_ring"]
            (ring_config,) = (
                c for r, c in rings.items() if ring == f"${{google_kms_key_ring.{r}.id}}"
            )
            assert (ring_config["name"], ring_config["location"]) == (ring_name, location)
            ((grant_id, grant),) = (
                (g, c)
                for g, c in grants.items()
                if c["crypto_key_id"] == f"${{google_kms_crypto_key.{key_id}.id}}"
            )
            domain, api = AGENT_OF[use]
            member = f"serviceAccount:service-{cfg.project_number}@{domain}.iam.gserviceaccount.com"
            assert (grant["role"], grant["member"]) == (ROLE, member), address
            assert f"google_kms_crypto_key_iam_member.{grant_id}" in config["depends_on"], (
                f"{name}: {address} does not wait for its key's grant"
            )
            agent = next(a for a in grant["depends_on"] if a.startswith("terraform_data."))
            assert agents[agent.split(".")[1]]["triggers_replace"]["service"] == api
            checked += 1
    assert checked >= 7, "Firestore, 3 topics, the repository and 2 services at least"
    assert {c["name"] for c in keys.values()} <= set(AGENT_OF)


def test_keys_rotate_within_90_days_and_are_protected_where_the_data_is(stack: Any) -> None:
    name, tf, cfg = stack
    keys = resources(tf, "google_kms_crypto_key").values()
    if not cfg.encryption.cmek:
        assert not keys and not resources(tf, "google_kms_key_ring"), name
        return
    # A key outlives a destroy wherever anything it encrypts does.
    protected = (
        cfg.firestore.delete_protection
        or cfg.redis.deletion_protection
        or cfg.compute.deletion_protection
    )
    assert cfg.encryption.rotation_days <= 90
    for key in keys:
        assert key["rotation_period"] == f"{cfg.encryption.rotation_days * 86400}s"
        assert key["purpose"] == "ENCRYPT_DECRYPT"
        if protected:
            assert key["lifecycle"] == {"prevent_destroy": True}, name
        else:
            assert "lifecycle" not in key, name


def test_the_kms_api_is_enabled_exactly_where_keys_are_made(stack: Any) -> None:
    name, tf, cfg = stack
    apis = {c["service"] for c in resources(tf, "google_project_service").values()}
    assert ("cloudkms.googleapis.com" in apis) == cfg.encryption.cmek, name
    gate, _ = api_gate(tf)
    for rtype in ("google_kms_key_ring", "google_kms_crypto_key"):
        for config in resources(tf, rtype).values():
            assert gate in config["depends_on"]


def test_without_cmek_nothing_names_a_key_and_the_cmek_checks_are_skipped_with_a_reason(
    stack: Any,
) -> None:
    """The CMEK skips live where CMEK is off, and only there: a stale skip fails the gate."""
    name, tf, cfg = stack
    skips = declared_skips(tf)
    cmek_skips = {
        (address.split(".")[0], check)
        for address, checks in skips.items()
        for check in checks
        if check in {"CKV_GCP_83", "CKV_GCP_84"}
    }
    if cfg.encryption.cmek:
        assert not cmek_skips, name
        return
    for rtype, (_, path) in KEY_OF.items():
        for config in resources(tf, rtype).values():
            assert key_of(config, path) is None, f"{name}: {rtype} names a key"
    assert cmek_skips == {
        ("google_pubsub_topic", "CKV_GCP_83"),
        ("google_artifact_registry_repository", "CKV_GCP_84"),
    }
    topics = [a for a in skips if a.startswith("google_pubsub_topic.")]
    assert len(topics) == len(resources(tf, "google_pubsub_topic")) == 3


def test_no_public_grant_anywhere_when_the_invoker_check_is_off(stack: Any) -> None:
    """Domain-restricted sharing forbids allUsers: the api is public through the load balancer
    with Cloud Run's invoker check off, and nothing in the stack names a public member."""
    name, tf, cfg = stack
    api = next(
        c
        for c in resources(tf, "google_cloud_run_v2_service").values()
        if c["name"] == f"{cfg.name_prefix}-api"
    )
    public_grants = [
        (rtype, config)
        for rtype, instances in tf["resource"].items()
        if re.search(r"_iam_(member|binding)$", rtype)
        for config in instances.values()
        if set(config.get("members", [config.get("member")])) & PUBLIC_MEMBERS
    ]
    if not cfg.compute.api.invoker_iam_disabled:
        assert "invoker_iam_disabled" not in api, name
        return
    assert api["invoker_iam_disabled"] is True
    assert api["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert public_grants == [], name
    assert not PUBLIC_MEMBERS & set(re.findall(r"all(?:Authenticated)?Users", json.dumps(tf)))
    # The load balancer is the way in: its serverless NEG points at the api.
    neg = next(iter(resources(tf, "google_compute_region_network_endpoint_group").values()))
    assert neg["cloud_run"]["service"] == api["name"]
    assert resources(tf, "google_compute_security_policy")
    worker = next(
        c
        for c in resources(tf, "google_cloud_run_v2_service").values()
        if c["name"] == f"{cfg.name_prefix}-worker"
    )
    assert "invoker_iam_disabled" not in worker, "the worker keeps its invoker check"
