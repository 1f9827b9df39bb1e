"""The security and safety policies of the platform, held against every synthesized environment."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.schema_check import BUILTIN_RESOURCES
from tests.infra.conftest import ENV_NAMES, api_gate, only, ref, resources

BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}


def iam_grants(tf: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM member/binding resource, with its type."""
    return [
        (rtype, config)
        for rtype, instances in tf.get("resource", {}).items()
        if re.search(r"_iam_(member|binding)$", rtype)
        for config in instances.values()
    ]


def service(tf: dict[str, Any], role: str) -> dict[str, Any]:
    found = [
        config
        for config in resources(tf, "google_cloud_run_v2_service").values()
        if config["name"].endswith(f"-{role}")
    ]
    assert len(found) == 1, f"one {role} service expected"
    return found[0]


def env_names(config: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in config["template"]["containers"][0]["env"]}


@pytest.fixture(params=ENV_NAMES)
def stack(request: pytest.FixtureRequest, synthesized: Any) -> tuple[str, dict[str, Any], Any]:
    name = request.param
    return name, synthesized.stacks[name], synthesized.envs[name]


def test_no_basic_role_and_no_public_grant_except_the_api_invoker(stack: Any) -> None:
    name, tf, env = stack
    grants = iam_grants(tf)
    assert grants, "the stack makes IAM grants"
    for rtype, grant in grants:
        assert grant["role"] not in BASIC_ROLES, f"{name}: basic role in {rtype}"
        members = grant.get("members", [grant.get("member")])
        if set(members) & PUBLIC_MEMBERS:
            api = service(tf, "api")
            assert rtype == "google_cloud_run_v2_service_iam_member", f"{name}: public {rtype}"
            assert grant["role"] == "roles/run.invoker"
            assert grant["name"] == f"${{{ref(tf, 'google_cloud_run_v2_service', api)}.name}}"
            assert env.config.compute.api.public


def test_project_level_roles_are_the_minimal_set(stack: Any) -> None:
    name, tf, env = stack
    allowed = {
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/cloudtrace.agent",
        "roles/datastore.user",
    }
    if env.config.app.model == "gemini":
        allowed.add("roles/aiplatform.user")
    grants = resources(tf, "google_project_iam_member").values()
    assert {g["role"] for g in grants} == allowed, name
    for grant in grants:
        if grant["role"] == "roles/datastore.user":
            database = f"projects/{env.config.project_id}/databases/{env.config.firestore.database}"
            assert f'resource.name == "{database}"' in grant["condition"]["expression"]


def test_worker_is_internal_and_invokable_by_the_push_identity_alone(stack: Any) -> None:
    name, tf, _ = stack
    worker = service(tf, "worker")
    assert worker["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY", name
    worker_ref = ref(tf, "google_cloud_run_v2_service", worker)
    invokers = [
        g
        for g in resources(tf, "google_cloud_run_v2_service_iam_member").values()
        if g["name"] == f"${{{worker_ref}.name}}"
    ]
    push_sa = only(tf, "google_service_account", account_id=f"{_prefix(stack)}-push")
    push_ref = ref(tf, "google_service_account", push_sa)
    assert [g["member"] for g in invokers] == [f"${{{push_ref}.member}}"], name
    assert all(g["role"] == "roles/run.invoker" for g in invokers)


def test_push_subscription_uses_oidc_and_dead_letters_with_the_agent_grants(stack: Any) -> None:
    _, tf, env = stack
    prefix = _prefix(stack)
    push = only(tf, "google_pubsub_subscription", name=f"{prefix}-inquiries-push")
    oidc = push["push_config"]["oidc_token"]
    push_sa = only(tf, "google_service_account", account_id=f"{prefix}-push")
    assert (
        oidc["service_account_email"] == f"${{{ref(tf, 'google_service_account', push_sa)}.email}}"
    )
    assert push["push_config"]["push_endpoint"].startswith(oidc["audience"] + "/")
    assert oidc["audience"].startswith("https://")

    dead_letter = only(tf, "google_pubsub_topic", name=f"{prefix}-inquiries-dead-letter")
    dl_ref = ref(tf, "google_pubsub_topic", dead_letter)
    policy = push["dead_letter_policy"]
    assert policy["dead_letter_topic"] == f"${{{dl_ref}.id}}"
    assert policy["max_delivery_attempts"] == env.config.messaging.max_delivery_attempts

    agent = (
        f"serviceAccount:service-{env.config.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    )
    publisher = only(tf, "google_pubsub_topic_iam_member", member=agent)
    assert (publisher["role"], publisher["topic"]) == (
        "roles/pubsub.publisher",
        f"${{{dl_ref}.name}}",
    )
    subscriber = only(tf, "google_pubsub_subscription_iam_member", member=agent)
    push_ref = ref(tf, "google_pubsub_subscription", push)
    assert (subscriber["role"], subscriber["subscription"]) == (
        "roles/pubsub.subscriber",
        f"${{{push_ref}.name}}",
    )
    only(tf, "google_pubsub_subscription", name=f"{prefix}-inquiries-dead-letter-pull")


def test_each_workload_runs_as_its_own_service_account(stack: Any) -> None:
    _, tf, _ = stack
    prefix = _prefix(stack)
    for role in ("api", "worker"):
        account = only(tf, "google_service_account", account_id=f"{prefix}-{role}")
        account_ref = ref(tf, "google_service_account", account)
        assert service(tf, role)["template"]["service_account"] == f"${{{account_ref}.email}}"


def test_redis_has_auth_and_tls_and_its_password_comes_from_secret_manager(stack: Any) -> None:
    _, tf, env = stack
    instances = list(resources(tf, "google_redis_instance").values())
    if env.config.redis.tier == "off":
        assert instances == []
        return
    (redis,) = instances
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"
    assert redis["tier"] == env.config.redis.tier.upper()
    for role in ("api", "worker"):
        variables = env_names(service(tf, role))
        assert "value" not in variables["REDIS_AUTH"], "the password is never a plain env value"
        secret = variables["REDIS_AUTH"]["value_source"]["secret_key_ref"]["secret"]
        assert secret.startswith("${google_secret_manager_secret.")


def test_every_resource_waits_for_the_project_apis(stack: Any) -> None:
    """Through one gate: every other resource depends on it, it depends on every API, and the
    APIs depend on nothing. So every API is on before anything else is created (and stays until
    everything else is destroyed), with one `depends_on` entry per resource instead of one per
    API."""
    name, tf, _ = stack
    services = {f"google_project_service.{n}" for n in resources(tf, "google_project_service")}
    assert len(services) >= 10
    gate, _ = api_gate(tf)  # the one terraform_data that waits for exactly the APIs
    for rtype, instances in tf["resource"].items():
        for rname, config in instances.items():
            address, waits_for = f"{rtype}.{rname}", config.get("depends_on", [])
            if rtype == "google_project_service":
                assert not waits_for, f"{name}: {address} waits for {waits_for}"
            elif address != gate:
                assert gate in waits_for, f"{name}: {address} does not wait for {gate}"
                named = sorted(services.intersection(waits_for))
                assert not named, f"{name}: {address} names {named[:2]}; the gate orders them"


def test_customers_sign_in_to_the_environment_s_identity_platform(stack: Any) -> None:
    """Email and password in the environment's own project, from its public hosts; the api
    checks those tokens, the worker checks none."""
    name, tf, env = stack
    cfg = env.config
    config = only(tf, "google_identity_platform_config")
    assert config["project"] == cfg.project_id
    assert config["sign_in"]["email"] == {"enabled": True, "password_required": True}
    assert config["sign_in"]["allow_duplicate_emails"] is False
    assert config["sign_in"]["anonymous"] == {"enabled": False}
    if cfg.edge.enabled:
        public = cfg.edge.domains
    else:
        public = [f"{cfg.name_prefix}-api-{cfg.project_number}.{cfg.region}.run.app"]
    assert config["authorized_domains"] == [*public, *cfg.auth.authorized_domains], name
    api = {k: v.get("value") for k, v in env_names(service(tf, "api")).items()}
    assert (api["AUTH_MODE"], api["AUTH_PROJECT_ID"]) == ("identity_platform", cfg.project_id)
    assert api["AUTH_CUSTOMER_CLAIM"] == cfg.auth.customer_claim
    assert not [n for n in env_names(service(tf, "worker")) if n.startswith("AUTH_")], name
    # The policy is set once the config exists, like everything else after the APIs.
    gate, policy = _password_policy_resource(tf)
    assert policy["depends_on"] == [ref(tf, "google_identity_platform_config", config), gate]


def _password_policy_resource(tf: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The API gate's address, and the terraform_data that sets the password policy (the
    stack's others create service agents, where customer-managed keys are on)."""
    gate, _ = api_gate(tf)
    (policy,) = (
        config
        for name, config in resources(tf, "terraform_data").items()
        if f"terraform_data.{name}" != gate
        and "BODY" in config["provisioner"][0]["local-exec"]["environment"]
    )
    return gate, policy


def _password_policy(tf: dict[str, Any]) -> dict[str, Any]:
    """The passwordPolicyConfig a stack PATCHes."""
    _, policy = _password_policy_resource(tf)
    body = json.loads(policy["provisioner"][0]["local-exec"]["environment"]["BODY"])
    return body["passwordPolicyConfig"]


def test_prod_enforces_a_stricter_password_policy_and_offers_a_second_factor(
    synthesized: Any,
) -> None:
    policies = {name: _password_policy(tf) for name, tf in synthesized.stacks.items()}
    prod = policies["prod"]
    strength = prod["passwordPolicyVersions"][0]["customStrengthOptions"]
    assert prod["passwordPolicyEnforcementState"] == "ENFORCE"
    assert prod["forceUpgradeOnSignin"] is True
    assert strength["minPasswordLength"] >= 12
    assert all(v for k, v in strength.items() if k.startswith("contains")), strength
    lengths = {
        name: p["passwordPolicyVersions"][0]["customStrengthOptions"]["minPasswordLength"]
        for name, p in policies.items()
    }
    assert lengths["dev"] <= lengths["staging"] <= lengths["prod"]
    config = only(synthesized.stacks["prod"], "google_identity_platform_config")
    assert config["mfa"]["state"] == "ENABLED"
    assert [p["state"] for p in config["mfa"]["provider_configs"]] == ["ENABLED"]


def test_prod_api_alone_reads_the_log_pseudonym_key(synthesized: Any) -> None:
    tf, cfg = synthesized.stacks["prod"], synthesized.envs["prod"].config
    secret = cfg.auth.pseudonym_key_secret
    assert secret
    api, worker = service(tf, "api"), service(tf, "worker")
    reference = env_names(api)["LOG_PSEUDONYM_KEY"]["value_source"]["secret_key_ref"]
    assert reference["secret"] == secret
    assert "LOG_PSEUDONYM_KEY" not in env_names(worker)
    grants = {
        name: g
        for name, g in resources(tf, "google_secret_manager_secret_iam_member").items()
        if g["secret_id"] == secret
    }
    account = only(tf, "google_service_account", account_id=f"{cfg.name_prefix}-api")
    assert [g["member"] for g in grants.values()] == [
        f"${{{ref(tf, 'google_service_account', account)}.member}}"
    ]
    assert [g["role"] for g in grants.values()] == ["roles/secretmanager.secretAccessor"]
    (grant,) = (f"google_secret_manager_secret_iam_member.{n}" for n in grants)
    assert grant in api["depends_on"] and grant not in worker["depends_on"]


def test_labels_app_and_env_on_every_resource_that_takes_labels(
    stack: Any, provider_schema: dict[str, Any]
) -> None:
    name, tf, env = stack
    provider = tf["provider"]["google"][0]
    assert provider["default_labels"] == env.labels
    checked = 0
    known = {**BUILTIN_RESOURCES, **provider_schema["resources"]}  # terraform_data: no labels
    for rtype, instances in tf["resource"].items():
        attributes = known[rtype]["attributes"]
        key = "user_labels" if "user_labels" in attributes else "labels"
        if key not in attributes:
            continue
        for rname, config in instances.items():
            labels = config.get(key)
            assert labels is not None, f"{name}: {rtype}.{rname} has no {key}"
            assert labels.get("app") == "agents" and labels.get("env") == name, (rtype, labels)
            checked += 1
    assert checked >= 10


def test_state_lives_in_the_environment_bucket(stack: Any) -> None:
    _, tf, env = stack
    assert tf["terraform"]["backend"]["gcs"] == {
        "bucket": env.config.state.bucket,
        "prefix": env.config.state.prefix,
    }
    provider = tf["provider"]["google"][0]
    assert (provider["project"], provider["region"]) == (env.config.project_id, env.config.region)


def test_a_later_apply_never_rolls_back_a_deployed_image(stack: Any) -> None:
    _, tf, _ = stack
    for role in ("api", "worker"):
        ignored = service(tf, role)["lifecycle"]["ignore_changes"]
        assert "template[0].containers[0].image" in ignored


def test_prod_is_protected(synthesized: Any) -> None:
    tf = synthesized.stacks["prod"]
    database = only(tf, "google_firestore_database")
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert database["deletion_policy"] == "ABANDON"
    database_ref = ref(tf, "google_firestore_database", database)
    backup = only(tf, "google_firestore_backup_schedule")
    assert backup["database"] == f"${{{database_ref}.name}}" and "daily_recurrence" in backup
    assert only(tf, "google_redis_instance")["tier"] == "STANDARD_HA"
    for role in ("api", "worker"):
        config = service(tf, role)
        assert config["deletion_protection"] is True
        assert config["template"]["scaling"]["min_instance_count"] >= 1
    policies = resources(tf, "google_monitoring_alert_policy").values()
    assert len(policies) >= 6
    assert all(policy["notification_channels"] for policy in policies)
    assert only(tf, "google_monitoring_notification_channel")["type"] == "email"


def test_prod_api_is_reachable_only_through_the_load_balancer(synthesized: Any) -> None:
    tf = synthesized.stacks["prod"]
    assert service(tf, "api")["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert resources(tf, "google_compute_security_policy")
    certificate = only(tf, "google_compute_managed_ssl_certificate")
    assert certificate["managed"]["domains"] == synthesized.envs["prod"].config.edge.domains


def test_dev_is_cheap(synthesized: Any) -> None:
    tf = synthesized.stacks["dev"]
    for role in ("api", "worker"):
        assert service(tf, role)["template"]["scaling"].get("min_instance_count", 0) == 0
    assert all(r["tier"] != "STANDARD_HA" for r in resources(tf, "google_redis_instance").values())
    assert not resources(tf, "google_compute_global_forwarding_rule")
    assert not resources(tf, "google_compute_security_policy")
    assert service(tf, "api")["ingress"] == "INGRESS_TRAFFIC_ALL"


def _prefix(stack: Any) -> str:
    return stack[2].config.name_prefix


def test_firestore_gets_the_app_s_ttl_policies_and_indexes(stack: Any) -> None:
    """The stack gives the database what infra/app_storage.py declares for the app (whose
    queries tests/app/adapters/contract/test_firestore_indexes.py holds against it)."""
    from infra.app_storage import APP_INDEXES, APP_TTL_POLICY

    _, tf, _ = stack
    fields = resources(tf, "google_firestore_field").values()
    assert sorted(f["collection"] for f in fields) == sorted(APP_TTL_POLICY.collections)
    assert all(f["field"] == APP_TTL_POLICY.field for f in fields)
    assert all(f["index_config"] == {} for f in fields)  # APP_TTL_POLICY.field_indexed is False
    indexes = {
        (
            ix["collection"],
            ix["query_scope"],
            tuple((f["field_path"], f["order"]) for f in ix["fields"]),
        )
        for ix in resources(tf, "google_firestore_index").values()
    }
    expected = {(ix.collection, ix.query_scope, tuple(ix.fields)) for ix in APP_INDEXES}
    assert indexes == expected and len(indexes) == len(APP_INDEXES)
