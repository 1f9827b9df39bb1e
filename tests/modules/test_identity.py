"""WorkloadIdentity and Secret: dedicated identities, least privilege, resource-scoped grants."""

from __future__ import annotations

import re

import pytest

from tests.modules.conftest import LABELS, PROJECT, PROJECT_NUMBER, resources

PREFIX = "agents-dev"
DATABASE = "agents-db"
BASE_ROLES = {
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/cloudtrace.agent",
    "roles/datastore.user",
}
BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
SERVICE_AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
GLOBAL_KEY = f"projects/{PROJECT}/locations/global/keyRings/agents-dev/cryptoKeys/secrets"


def workloads(**roles: list[str]) -> dict:
    """The reference stack's three workloads, with `roles` as each one's extra project roles."""
    from modules.identity import Workload

    return {
        "api": Workload(description="api", firestore=True, project_roles=roles.get("api", ())),
        "worker": Workload(
            description="worker", firestore=True, project_roles=roles.get("worker", ())
        ),
        "push": Workload(description="push", telemetry=False, pubsub_push=True),
    }


@pytest.fixture(scope="module")
def tf(synth):
    from cdktn import TerraformVariable

    from modules.identity import (
        ACCESSOR,
        Secret,
        SecretProps,
        WorkloadIdentity,
        WorkloadIdentityProps,
    )

    def build(stack):
        identity = WorkloadIdentity(
            stack,
            "identity",
            WorkloadIdentityProps(
                project_id=PROJECT,
                project_number=PROJECT_NUMBER,
                name_prefix=PREFIX,
                firestore_database=DATABASE,
                workloads=workloads(worker=["roles/aiplatform.user"]),
            ),
        )
        auth = TerraformVariable(stack, "redis_auth", type="string", sensitive=True)
        Secret(
            stack,
            "redis-auth",
            SecretProps(
                project_id=PROJECT,
                secret_id="agents-dev-redis-auth",
                iam={ACCESSOR: [identity.members["api"], identity.members["worker"]]},
                labels=LABELS,
                data=auth.string_value,
            ),
        )
        Secret(
            stack,
            "callback-key",
            SecretProps(
                project_id=PROJECT,
                secret_id="agents-dev-callback-key",
                iam={ACCESSOR: [identity.members["worker"]]},
                labels=LABELS,
                kms_key_name=GLOBAL_KEY,
            ),
        )

    return synth(build)


def account_of(tf: dict) -> dict[str, str]:
    """Maps each service account's member/name/email expression to its account id."""
    found = {}
    for key, account in resources(tf, "google_service_account").items():
        for attribute in ("member", "name", "email"):
            found[f"${{google_service_account.{key}.{attribute}}}"] = account["account_id"]
    return found


def project_roles(tf: dict) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for binding in resources(tf, "google_project_iam_member").values():
        assert binding["project"] == PROJECT
        who = account_of(tf).get(binding["member"], binding["member"])
        roles.setdefault(who, set()).add(binding["role"])
    return roles


def secret_key(tf: dict, secret_id: str) -> str:
    (key,) = [
        k
        for k, s in resources(tf, "google_secret_manager_secret").items()
        if s["secret_id"] == secret_id
    ]
    return key


def test_one_service_account_per_workload(tf):
    accounts = resources(tf, "google_service_account").values()
    assert sorted(a["account_id"] for a in accounts) == [
        f"{PREFIX}-api",
        f"{PREFIX}-push",
        f"{PREFIX}-worker",
    ]
    assert {a["project"] for a in accounts} == {PROJECT}


def test_project_roles_are_exactly_the_listed_ones(tf):
    assert project_roles(tf) == {
        f"{PREFIX}-api": BASE_ROLES,
        f"{PREFIX}-worker": BASE_ROLES | {"roles/aiplatform.user"},
    }


def test_datastore_user_is_held_to_the_one_database(tf):
    database = f"projects/{PROJECT}/databases/{DATABASE}"
    bindings = resources(tf, "google_project_iam_member").values()
    datastore = [b for b in bindings if b["role"] == "roles/datastore.user"]
    assert len(datastore) == 2
    for binding in datastore:
        expression = binding["condition"]["expression"]
        assert f'resource.name == "{database}"' in expression
        assert f'resource.name.startsWith("{database}/")' in expression
        assert binding["condition"]["title"]
    others = [b for b in bindings if b["role"] != "roles/datastore.user"]
    assert others and all("condition" not in b for b in others)


def test_no_basic_role_anywhere(tf):
    granted = [
        config["role"]
        for found in tf["resource"].values()
        for config in found.values()
        if "role" in config
    ]
    assert granted, "expected IAM bindings in the stack"
    assert BASIC_ROLES.isdisjoint(granted)


def test_pubsub_agent_creates_tokens_for_the_push_account_only(tf):
    (binding,) = resources(tf, "google_service_account_iam_member").values()
    assert binding["role"] == "roles/iam.serviceAccountTokenCreator"
    assert binding["member"] == SERVICE_AGENT
    assert account_of(tf)[binding["service_account_id"]] == f"{PREFIX}-push"
    assert binding["service_account_id"].endswith(".name}")
    project_level = {b["role"] for b in resources(tf, "google_project_iam_member").values()}
    assert "roles/iam.serviceAccountTokenCreator" not in project_level


def test_secret_accessors_are_bound_on_the_secret_only(tf):
    bindings = resources(tf, "google_secret_manager_secret_iam_member").values()
    redis = secret_key(tf, "agents-dev-redis-auth")
    callback = secret_key(tf, "agents-dev-callback-key")
    readers: dict[str, set[str]] = {}
    for binding in bindings:
        assert binding["role"] == "roles/secretmanager.secretAccessor"
        readers.setdefault(binding["secret_id"], set()).add(account_of(tf)[binding["member"]])
    assert readers == {
        f"${{google_secret_manager_secret.{redis}.id}}": {f"{PREFIX}-api", f"{PREFIX}-worker"},
        f"${{google_secret_manager_secret.{callback}.id}}": {f"{PREFIX}-worker"},
    }
    project_level = {b["role"] for b in resources(tf, "google_project_iam_member").values()}
    assert "roles/secretmanager.secretAccessor" not in project_level


def test_secret_replicates_automatically_with_labels_and_holds_data_when_given(tf):
    for key, secret in resources(tf, "google_secret_manager_secret").items():
        if key != secret_key(tf, "agents-dev-callback-key"):
            assert secret["replication"] == {"auto": {}}
        assert secret["labels"] == LABELS
        assert secret["project"] == PROJECT
    (version,) = resources(tf, "google_secret_manager_secret_version").values()
    redis = secret_key(tf, "agents-dev-redis-auth")
    assert version["secret"] == f"${{google_secret_manager_secret.{redis}.id}}"
    assert version["secret_data"] == "${var.redis_auth}"


def test_a_customer_managed_key_encrypts_the_secret_where_given(tf):
    secret = resources(tf, "google_secret_manager_secret")[
        secret_key(tf, "agents-dev-callback-key")
    ]
    assert secret["replication"] == {
        "auto": {"customer_managed_encryption": {"kms_key_name": GLOBAL_KEY}}
    }


def identity_props(**overrides):
    from modules.identity import WorkloadIdentityProps

    values = {
        "project_id": PROJECT,
        "project_number": PROJECT_NUMBER,
        "name_prefix": PREFIX,
        "firestore_database": DATABASE,
        "workloads": workloads(),
        **overrides,
    }
    return WorkloadIdentityProps(**values)


@pytest.mark.parametrize("role", sorted(BASIC_ROLES))
def test_basic_roles_are_refused(role):
    with pytest.raises(ValueError, match=r"^Workload\.project_roles: ") as e:
        identity_props(workloads=workloads(api=["roles/logging.viewer", role]))
    assert role in str(e.value)


@pytest.mark.parametrize(
    ("overrides", "field", "bad"),
    [
        ({"name_prefix": "a" * 24}, "name_prefix", "a" * 24),
        ({"name_prefix": "Agents"}, "name_prefix", "Agents"),
        ({"project_number": "acme"}, "project_number", "acme"),
        ({"project_id": "ACME"}, "project_id", "ACME"),
        ({"firestore_database": "Bad DB"}, "firestore_database", "Bad DB"),
        ({"firestore_database": None}, "firestore_database", "None"),
        ({"workloads": {"Db": workloads()["api"]}}, "workloads", "Db"),
        ({"workloads": {"db": "roles/x.y"}}, re.escape("workloads[db]"), "roles/x.y"),
    ],
)
def test_bad_identity_props_name_the_field(overrides, field, bad):
    with pytest.raises(ValueError, match=rf"^WorkloadIdentityProps\.{field}: ") as error:
        identity_props(**overrides)
    assert bad in str(error.value)


@pytest.mark.parametrize(
    ("roles", "bad"),
    [
        (["owner"], "owner"),
        (["roles/iam.serviceAccountUser"], "roles/iam.serviceAccountUser"),
        (["roles/datastore.user"], "roles/datastore.user"),
        (["roles/logging.logWriter"], "roles/logging.logWriter"),
        (["roles/x.y", "roles/x.y"], "roles/x.y"),
    ],
)
def test_bad_workload_roles_name_the_field(roles, bad):
    from modules.identity import Workload

    with pytest.raises(ValueError, match=r"^Workload\.project_roles: ") as error:
        Workload(description="api", project_roles=roles)
    assert bad in str(error.value)


def test_longest_allowed_prefix_fits_the_account_id_limit():
    assert identity_props(name_prefix="a" * 23).name_prefix == "a" * 23


ACCESSOR = "roles/secretmanager.secretAccessor"
ACCESSORS = re.escape(f"iam[{ACCESSOR}]")


def secret_props(**overrides):
    from modules.identity import SecretProps

    values = {
        "project_id": PROJECT,
        "secret_id": "agents-dev-key",
        "iam": {ACCESSOR: [f"serviceAccount:{PREFIX}-api@{PROJECT}.iam.gserviceaccount.com"]},
        "labels": LABELS,
        **overrides,
    }
    return SecretProps(**values)


@pytest.mark.parametrize(
    ("overrides", "field", "bad"),
    [
        ({"secret_id": "bad id!"}, "secret_id", "bad id!"),
        ({"iam": {ACCESSOR: ["allUsers"]}}, ACCESSORS, "allUsers"),
        ({"iam": {ACCESSOR: "serviceAccount:a@b"}}, ACCESSORS, "serviceAccount:a@b"),
        ({"iam": {ACCESSOR: ["user:a@b.c", "user:a@b.c"]}}, ACCESSORS, "user:a@b.c"),
        ({"iam": {"secretAccessor": ["user:a@b.c"]}}, "iam", "secretAccessor"),
        ({"labels": {"app": "agents"}}, "labels", "'app'"),
        (
            {"kms_key_name": GLOBAL_KEY.replace("global", "europe-west1")},
            "kms_key_name",
            "in location global",
        ),
        ({"kms_key_name": "secrets"}, "kms_key_name", "'secrets'"),
    ],
)
def test_bad_secret_props_name_the_field(overrides, field, bad):
    with pytest.raises(ValueError, match=rf"^SecretProps\.{field}: ") as error:
        secret_props(**overrides)
    assert bad in str(error.value)


def test_literal_secret_data_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match=r"^SecretProps\.data: .*token") as error:
        secret_props(data="hunter2-plaintext")
    assert "hunter2-plaintext" not in str(error.value)
