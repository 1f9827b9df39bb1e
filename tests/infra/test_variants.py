"""Options the shipped environments leave off: Redis off, Gemini, signed callbacks, private api;
and the enterprise controls turned on in every environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.loader import load_environment
from infra.schema_check import check_stack
from infra.synth import synthesize
from tests.infra.conftest import REPO, api_gate, only, resources


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("variant")
    data = yaml.safe_load((REPO / "environments" / "dev.yaml").read_text())
    data["redis"]["tier"] = "off"
    data["compute"]["api"]["public"] = False
    data["app"].update(
        model="gemini",
        callback_allowed_hosts=["hooks.example.com"],
        callback_signing_secret="agents-callback-key",
        handoff_wait_alert_seconds=120,
    )
    data["observability"]["handoff_wait_threshold"] = 3
    path = folder / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    (written,) = synthesize([load_environment(path)], folder / "cdktf.out")
    return json.loads(written.read_text())


def env_of(tf: dict[str, Any], suffix: str) -> dict[str, dict[str, Any]]:
    service = next(
        s
        for s in resources(tf, "google_cloud_run_v2_service").values()
        if s["name"].endswith(suffix)
    )
    return {e["name"]: e for e in service["template"]["containers"][0]["env"]}


def test_without_redis_there_is_no_instance_no_secret_and_no_cache_variable(variant: dict) -> None:
    assert not resources(variant, "google_redis_instance")
    assert not resources(variant, "google_secret_manager_secret")
    for suffix in ("-api", "-worker"):
        names = set(env_of(variant, suffix))
        assert not names & {"REDIS_HOST", "REDIS_PORT", "REDIS_AUTH"}


def test_a_named_handoff_wait_goes_to_the_worker_that_counts_it(variant: dict) -> None:
    """Housekeeping runs on the worker: the api has no use for the setting."""
    assert env_of(variant, "-worker")["HANDOFF_WAIT_ALERT_SECONDS"]["value"] == "120"
    assert "HANDOFF_WAIT_ALERT_SECONDS" not in env_of(variant, "-api")
    metrics = {m["name"]: m for m in resources(variant, "google_logging_metric").values()}
    assert metrics["agents-dev-handoff-wait-passes"]["filter"].endswith(
        "jsonPayload.handoffs_waiting_too_long>=3"
    )


def test_gemini_adds_vertex_access_and_its_settings(variant: dict) -> None:
    iam = resources(variant, "google_project_iam_member").values()
    grants = [g for g in iam if g["role"] == "roles/aiplatform.user"]
    assert len(grants) == 2
    variables = env_of(variant, "-worker")
    assert variables["MODEL"]["value"] == "gemini"
    assert {"GEMINI_MODEL", "GEMINI_LOCATION"} <= set(variables)


def test_signed_callbacks_read_the_key_from_the_named_secret_bound_on_it_alone(
    variant: dict,
) -> None:
    for suffix in ("-api", "-worker"):
        variables = env_of(variant, suffix)
        assert variables["CALLBACK_ALLOWED_HOSTS"]["value"] == "hooks.example.com"
        ref = variables["CALLBACK_SIGNING_KEY"]["value_source"]["secret_key_ref"]
        assert ref["secret"] == "agents-callback-key"
    grants = resources(variant, "google_secret_manager_secret_iam_member").values()
    assert {g["secret_id"] for g in grants} == {"agents-callback-key"}
    assert {g["role"] for g in grants} == {"roles/secretmanager.secretAccessor"}
    assert len(grants) == 2


def test_a_private_api_admits_internal_traffic_and_no_public_invoker(variant: dict) -> None:
    api = only(variant, "google_cloud_run_v2_service", name="agents-dev-api")
    assert api["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    members = {
        g["member"] for g in resources(variant, "google_cloud_run_v2_service_iam_member").values()
    }
    assert "allUsers" not in members


def test_the_variant_matches_the_provider_schema(variant: dict, provider_schema: dict) -> None:
    assert check_stack(variant, provider_schema) == []


def test_the_variant_stack_is_named_after_its_file(variant: dict) -> None:
    assert variant["//"]["metadata"]["stackName"] == "lab"


def test_the_stack_s_own_grants_wait_for_the_apis_and_the_services_for_them(
    variant: dict,
) -> None:
    """The callback key grants are made by the stack itself, not by a module; they wait for
    the APIs through the gate, as every module's resources do."""
    gate, _ = api_gate(variant)
    grants = resources(variant, "google_secret_manager_secret_iam_member")
    assert len(grants) == 2
    for name, grant in grants.items():
        assert grant["depends_on"] == [gate], name
    addresses = {f"google_secret_manager_secret_iam_member.{n}" for n in grants}
    for name, service in resources(variant, "google_cloud_run_v2_service").items():
        assert set(service["depends_on"]) == {gate} | addresses, name


@pytest.fixture(scope="module")
def enterprise(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every shipped environment with the enterprise controls on: customer-managed keys, and
    the api public behind the load balancer without an allUsers grant. Dev's copy also keeps
    its database in a region and turns Redis off, so a regional Firestore key and a stack
    without secrets are covered too."""
    folder = tmp_path_factory.mktemp("enterprise")
    envs = []
    for name in ("dev", "staging", "prod"):
        data = yaml.safe_load((REPO / "environments" / f"{name}.yaml").read_text())
        data["encryption"] = {"cmek": True, "rotation_days": 30}
        data["edge"] = {"enabled": True, "domains": [f"{name}.agents.example.com"]}
        data["compute"]["api"].update(public=True, invoker_iam_disabled=True)
        if name == "dev":
            data["firestore"]["location"] = "europe-west1"
            data["redis"]["tier"] = "off"
        path = folder / f"{name}-enterprise.yaml"
        path.write_text(yaml.safe_dump(data))
        envs.append(load_environment(path))
    written = synthesize(envs, folder / "cdktf.out")
    return {path.parent.name: path for path in written}


def test_the_enterprise_controls_synthesize_match_the_schema_and_plan_in_every_environment(
    enterprise: dict[str, Any], provider_schema: dict, terraform: str, standin_mirror: Any, tmp_path
) -> None:
    from infra.schema_check import count_resources
    from infra.standin.run import plan_stacks

    stacks = {name: json.loads(path.read_text()) for name, path in enterprise.items()}
    assert sorted(stacks) == ["dev-enterprise", "prod-enterprise", "staging-enterprise"]
    for name, tf in stacks.items():
        assert check_stack(tf, provider_schema) == [], name
        members = {
            g["member"] for g in resources(tf, "google_cloud_run_v2_service_iam_member").values()
        }
        assert "allUsers" not in members, name
        assert resources(tf, "google_kms_crypto_key"), name
    dev = stacks["dev-enterprise"]
    key_uses = {k["name"] for k in resources(dev, "google_kms_crypto_key").values()}
    assert key_uses == {"firestore", "pubsub", "artifact-registry", "run"}  # no Redis, no secret
    (database,) = resources(dev, "google_firestore_database").values()
    assert "/locations/europe-west1/" in database["cmek_config"]["kms_key_name"]
    runs = plan_stacks(
        [(name, path.parent) for name, path in enterprise.items()],
        tmp_path,
        terraform,
        standin_mirror,
    )
    for run in runs:
        assert run.ok, f"terraform {run.failed_step} failed on {run.name}:\n{run.output[-4000:]}"
        assert run.warnings == [], run.name
        created = count_resources(stacks[run.name])
        assert run.summary == f"Plan: {created} to add, 0 to change, 0 to destroy.", run.name
