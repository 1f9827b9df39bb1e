"""The storage module: Firestore database, TTL policies, indexes, backups, and Redis."""

from __future__ import annotations

from typing import Any

import pytest

from infra.app_storage import APP_INDEXES, APP_TTL_POLICY
from modules.storage import (
    CompositeIndex,
    FirestoreDatabase,
    FirestoreDatabaseProps,
    MaintenanceWindow,
    Recovery,
    RedisCache,
    RedisCacheProps,
    TtlPolicy,
)
from tests.modules.conftest import LABELS, PROJECT, REGION, resources

NETWORK_ID = f"projects/{PROJECT}/global/networks/agents-dev"
KEYS = f"projects/{PROJECT}/locations/{{}}/keyRings/agents-dev/cryptoKeys/{{}}"
# The reference app's (infra/app_storage.py), which the "protected" database below is given.
APP_TTL_COLLECTIONS = {"sessions", "messages", "inquiries", "idempotency"}


def build(stack: Any) -> None:
    from cdktn import TerraformOutput
    from cdktn_provider_google.compute_global_address import ComputeGlobalAddress

    protected = FirestoreDatabase(
        stack,
        "protected",
        FirestoreDatabaseProps(
            project_id=PROJECT,
            location="eur3",
            deletion_protection=True,
            recovery=Recovery(point_in_time=True, backup_retention_days=14),
            ttl=APP_TTL_POLICY,
            indexes=APP_INDEXES,
            kms_key_name=KEYS.format("europe", "firestore"),  # eur3's keys live in europe
        ),
    )
    FirestoreDatabase(
        stack,
        "scratch",
        FirestoreDatabaseProps(
            project_id=PROJECT,
            location=REGION,
            name="agents-scratch",
            deletion_protection=False,
            recovery=Recovery(point_in_time=False),
            ttl=TtlPolicy(collections=("carts",), field="valid_until", field_indexed=True),
            indexes=(
                CompositeIndex(
                    collection="carts",
                    fields=[("owner", "ASCENDING"), ("total", "DESCENDING"), ("day", "ASCENDING")],
                    query_scope="COLLECTION_GROUP",
                ),
            ),
        ),
    )
    psa = ComputeGlobalAddress(stack, "psa", name="agents-dev-psa", network=NETWORK_ID)
    basic = RedisCache(
        stack,
        "basic",
        RedisCacheProps(
            project_id=PROJECT,
            region=REGION,
            name="agents-dev-cache",
            tier="basic",
            network_id=NETWORK_ID,
            labels=LABELS,
            depends_on_resources=[psa],
        ),
    )
    RedisCache(
        stack,
        "ha",
        RedisCacheProps(
            project_id=PROJECT,
            region=REGION,
            name="agents-prod-cache",
            tier="standard_ha",
            memory_size_gb=5,
            network_id=NETWORK_ID,
            labels={"app": "agents", "env": "prod"},
            maintenance=MaintenanceWindow(day="TUESDAY", hour_utc=22),
            kms_key_name=KEYS.format(REGION, "redis"),
        ),
    )
    TerraformOutput(stack, "database_name", value=protected.database_name)
    TerraformOutput(stack, "redis_host", value=basic.host)
    TerraformOutput(stack, "redis_port", value=basic.port)
    TerraformOutput(stack, "redis_auth", value=basic.auth_string, sensitive=True)
    TerraformOutput(stack, "redis_ca", value=basic.server_ca_cert)


@pytest.fixture(scope="module")
def tf(synth) -> dict[str, Any]:
    return synth(build)


def named(tf: dict[str, Any], resource_type: str, name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, config) of the one resource of a type with this `name`."""
    found = [(key, cfg) for key, cfg in resources(tf, resource_type).items() if cfg["name"] == name]
    assert len(found) == 1, f"expected one {resource_type} named {name}, found {len(found)}"
    return found[0]


def children(tf: dict[str, Any], resource_type: str, database_key: str) -> list[dict[str, Any]]:
    """The resources of a type that belong to one database (by Terraform reference)."""
    ref = f"${{google_firestore_database.{database_key}.name}}"
    return [cfg for cfg in resources(tf, resource_type).values() if cfg["database"] == ref]


def test_both_databases_are_native_mode_with_optimistic_concurrency(tf) -> None:
    databases = resources(tf, "google_firestore_database").values()
    assert sorted(db["name"] for db in databases) == ["(default)", "agents-scratch"]
    for db in databases:
        assert db["type"] == "FIRESTORE_NATIVE"
        assert db["concurrency_mode"] == "OPTIMISTIC"
        assert db["project"] == PROJECT


def test_protected_database_has_pitr_delete_protection_and_survives_destroy(tf) -> None:
    key, db = named(tf, "google_firestore_database", "(default)")
    assert db["location_id"] == "eur3"
    assert db["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert db["deletion_policy"] == "ABANDON"
    for kind in ("google_firestore_field", "google_firestore_index"):
        assert {c["deletion_policy"] for c in children(tf, kind, key)} == {"ABANDON"}


def test_unprotected_database_has_neither_and_is_deleted_on_destroy(tf) -> None:
    key, db = named(tf, "google_firestore_database", "agents-scratch")
    assert db["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_DISABLED"
    assert db["delete_protection_state"] == "DELETE_PROTECTION_DISABLED"
    assert db["deletion_policy"] == "DELETE"
    for kind in ("google_firestore_field", "google_firestore_index"):
        assert {c["deletion_policy"] for c in children(tf, kind, key)} == {"DELETE"}


def test_ttl_policy_on_expires_at_for_each_collection_of_the_app(tf) -> None:
    key, _ = named(tf, "google_firestore_database", "(default)")
    fields = children(tf, "google_firestore_field", key)
    assert {f["collection"] for f in fields} == APP_TTL_COLLECTIONS
    assert len(fields) == len(APP_TTL_COLLECTIONS)
    for field in fields:
        assert field["field"] == "expires_at"
        assert field["ttl_config"] == {}
        # An empty index_config exempts the TTL timestamp from single-field indexing.
        assert field["index_config"] == {}


def test_ttl_field_and_collections_follow_the_props(tf) -> None:
    key, _ = named(tf, "google_firestore_database", "agents-scratch")
    (field,) = children(tf, "google_firestore_field", key)
    assert (field["collection"], field["field"], field["ttl_config"]) == (
        "carts",
        "valid_until",
        {},
    )
    assert "index_config" not in field  # field_indexed keeps the inherited indexes


def test_the_apps_composite_indexes_keep_their_field_order(tf) -> None:
    key, _ = named(tf, "google_firestore_database", "(default)")
    indexes = {
        (
            ix["collection"],
            ix["query_scope"],
            tuple((f["field_path"], f["order"]) for f in ix["fields"]),
        )
        for ix in children(tf, "google_firestore_index", key)
    }
    assert indexes == {
        ("inquiries", "COLLECTION", (("status", "ASCENDING"), ("updated_at", "ASCENDING"))),
        (
            "sessions",
            "COLLECTION",
            (("handoff_state", "ASCENDING"), ("handoff_since", "ASCENDING")),
        ),
    }


def test_other_indexes_keep_their_scope_and_field_order(tf) -> None:
    key, _ = named(tf, "google_firestore_database", "agents-scratch")
    (index,) = children(tf, "google_firestore_index", key)
    assert index["query_scope"] == "COLLECTION_GROUP"
    assert [(f["field_path"], f["order"]) for f in index["fields"]] == [
        ("owner", "ASCENDING"),
        ("total", "DESCENDING"),
        ("day", "ASCENDING"),
    ]


def test_without_ttl_or_indexes_a_database_gets_neither(synth) -> None:
    """The module knows no app's collections: TTL policies and indexes are the app's to give."""
    props = FirestoreDatabaseProps(**DATABASE)
    assert (props.ttl.collections, props.ttl.field, props.ttl.field_indexed) == (
        (),
        "expires_at",
        False,
    )
    assert props.indexes == ()
    tf = synth(lambda stack: FirestoreDatabase(stack, "db", props))
    assert list(resources(tf, "google_firestore_database"))
    assert not resources(tf, "google_firestore_field")
    assert not resources(tf, "google_firestore_index")


def test_daily_backup_schedule_only_where_retention_is_set(tf) -> None:
    key, _ = named(tf, "google_firestore_database", "(default)")
    schedules = list(resources(tf, "google_firestore_backup_schedule").values())
    assert len(schedules) == 1
    (schedule,) = schedules
    assert schedule["database"] == f"${{google_firestore_database.{key}.name}}"
    assert schedule["retention"] == f"{14 * 86400}s"
    assert schedule["daily_recurrence"] == {}
    assert "weekly_recurrence" not in schedule


def test_redis_has_auth_tls_and_private_service_access(tf) -> None:
    for redis in resources(tf, "google_redis_instance").values():
        assert redis["auth_enabled"] is True
        assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
        assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"
        assert redis["authorized_network"] == NETWORK_ID
        assert redis["region"] == REGION


def test_redis_tier_size_labels_and_maintenance_follow_the_props(tf) -> None:
    _, basic = named(tf, "google_redis_instance", "agents-dev-cache")
    _, ha = named(tf, "google_redis_instance", "agents-prod-cache")
    assert (basic["tier"], basic["memory_size_gb"], basic["labels"]) == ("BASIC", 1, LABELS)
    assert (ha["tier"], ha["memory_size_gb"]) == ("STANDARD_HA", 5)
    assert ha["labels"] == {"app": "agents", "env": "prod"}
    assert basic["redis_version"] == "REDIS_7_2"
    (window,) = ha["maintenance_policy"]["weekly_maintenance_window"]
    assert (window["day"], window["start_time"]["hours"]) == ("TUESDAY", 22)


def test_redis_waits_for_the_given_resources(tf) -> None:
    psa_key = next(iter(resources(tf, "google_compute_global_address")))
    _, basic = named(tf, "google_redis_instance", "agents-dev-cache")
    _, ha = named(tf, "google_redis_instance", "agents-prod-cache")
    assert basic["depends_on"] == [f"google_compute_global_address.{psa_key}"]
    assert "depends_on" not in ha


def test_customer_managed_keys_encrypt_only_where_given(tf) -> None:
    _, protected = named(tf, "google_firestore_database", "(default)")
    _, scratch = named(tf, "google_firestore_database", "agents-scratch")
    assert protected["cmek_config"] == {"kms_key_name": KEYS.format("europe", "firestore")}
    assert "cmek_config" not in scratch
    _, ha = named(tf, "google_redis_instance", "agents-prod-cache")
    _, basic = named(tf, "google_redis_instance", "agents-dev-cache")
    assert ha["customer_managed_key"] == KEYS.format(REGION, "redis")
    assert "customer_managed_key" not in basic


def test_a_key_known_only_at_apply_time_passes(synth) -> None:
    from cdktn_provider_google.kms_crypto_key import KmsCryptoKey

    def build(stack: Any) -> None:
        key = KmsCryptoKey(stack, "key", name="firestore", key_ring="ring")
        FirestoreDatabase(
            stack,
            "db",
            FirestoreDatabaseProps(**{**DATABASE, "kms_key_name": key.id}),
        )
        RedisCache(stack, "cache", RedisCacheProps(**{**REDIS, "kms_key_name": key.id}))

    tf = synth(build)
    key = f"${{google_kms_crypto_key.{next(iter(resources(tf, 'google_kms_crypto_key')))}.id}}"
    (db,) = resources(tf, "google_firestore_database").values()
    (redis,) = resources(tf, "google_redis_instance").values()
    assert (db["cmek_config"]["kms_key_name"], redis["customer_managed_key"]) == (key, key)


def test_firestore_keys_follow_the_database_location() -> None:
    """A regional database's key is in its region, a multi-region's where Cloud KMS keeps it."""
    from modules.storage import FIRESTORE_KMS_LOCATIONS

    assert FIRESTORE_KMS_LOCATIONS == {"nam5": "us", "eur3": "europe"}
    for location, key_location in (*FIRESTORE_KMS_LOCATIONS.items(), (REGION, REGION)):
        props = {**DATABASE, "location": location}
        FirestoreDatabaseProps(**props, kms_key_name=KEYS.format(key_location, "firestore"))


def test_attributes_point_at_the_instance_and_database(tf) -> None:
    key, _ = named(tf, "google_redis_instance", "agents-dev-cache")
    outputs = {name: out["value"] for name, out in tf["output"].items()}
    assert outputs["database_name"] == "(default)"
    assert outputs["redis_host"] == f"${{google_redis_instance.{key}.host}}"
    assert outputs["redis_port"] == f"${{google_redis_instance.{key}.port}}"
    assert outputs["redis_auth"] == f"${{google_redis_instance.{key}.auth_string}}"
    assert outputs["redis_ca"] == f"${{google_redis_instance.{key}.server_ca_certs[0].cert}}"


DATABASE = {
    "project_id": PROJECT,
    "location": "eur3",
    "deletion_protection": True,
    "recovery": Recovery(point_in_time=True),
}
REDIS = {
    "project_id": PROJECT,
    "region": REGION,
    "name": "agents-dev-cache",
    "tier": "basic",
    "network_id": NETWORK_ID,
    "labels": LABELS,
}


@pytest.mark.parametrize(
    ("props", "change", "field", "allowed"),
    [
        (FirestoreDatabaseProps, {"project_id": "Acme"}, "project_id", "must be a project id"),
        (FirestoreDatabaseProps, {"name": "db"}, "name", "must be '(default)' or 4-63"),
        (FirestoreDatabaseProps, {"location": ""}, "location", "must be a location"),
        (FirestoreDatabaseProps, {"deletion_protection": "yes"}, "deletion_protection", "true or"),
        (
            Recovery,
            {"point_in_time": True, "backup_retention_days": 99},
            "backup_retention_days",
            "98",
        ),
        (
            Recovery,
            {"point_in_time": True, "backup_retention_days": 0},
            "backup_retention_days",
            "1 and",
        ),
        (Recovery, {"point_in_time": "yes"}, "point_in_time", "true or"),
        (FirestoreDatabaseProps, {"recovery": {"point_in_time": True}}, "recovery", "a Recovery"),
        (TtlPolicy, {"collections": "sessions"}, "collections", "a list"),
        (TtlPolicy, {"collections": ("a/b",)}, "collections", "1-100 of"),
        (TtlPolicy, {"collections": ("s", "s")}, "collections", "repeat"),
        (TtlPolicy, {"field": "expires at"}, "field", "a field path"),
        (TtlPolicy, {"field_indexed": "no"}, "field_indexed", "true or"),
        (FirestoreDatabaseProps, {"ttl": ("sessions",)}, "ttl", "a TtlPolicy"),
        (FirestoreDatabaseProps, {"indexes": ({"collection": "x"},)}, "indexes", "CompositeIndex"),
        (FirestoreDatabaseProps, {"kms_key_name": "my-key"}, "kms_key_name", "a Cloud KMS key"),
        (
            FirestoreDatabaseProps,
            {"kms_key_name": KEYS.format("eur3", "firestore")},
            "kms_key_name",
            "must be a key in Cloud KMS location 'europe' (the database's location)",
        ),
        (
            RedisCacheProps,
            {"kms_key_name": KEYS.format("global", "redis")},
            "kms_key_name",
            "must be a key in Cloud KMS location 'europe-west1' (the instance's region)",
        ),
        (RedisCacheProps, {"kms_key_name": 7}, "kms_key_name", "a Cloud KMS key"),
        (RedisCacheProps, {"tier": "standard"}, "tier", "must be one of basic, standard_ha"),
        (RedisCacheProps, {"memory_size_gb": 0}, "memory_size_gb", "between 1 and 300, got 0"),
        (RedisCacheProps, {"memory_size_gb": True}, "memory_size_gb", "an integer"),
        (RedisCacheProps, {"name": "Cache_1"}, "name", "1-40 of [a-z0-9-]"),
        (RedisCacheProps, {"network_id": "agents-dev"}, "network_id", "projects/<project>/"),
        (RedisCacheProps, {"redis_version": "7.2"}, "redis_version", "'REDIS_7_2'"),
        (RedisCacheProps, {"labels": {"app": "agents"}}, "labels", "includes 'app' and 'env'"),
        (RedisCacheProps, {"labels": {**LABELS, "Team": "x"}}, "labels", "keys must be"),
        (
            RedisCacheProps,
            {"labels": {**LABELS, "env": "Dev"}},
            "labels",
            "values must be 0-63 of [a-z0-9_-], got 'env=Dev'",
        ),
        (MaintenanceWindow, {"day": "sunday"}, "day", "one of MONDAY"),
        (MaintenanceWindow, {"hour_utc": 24}, "hour_utc", "0 and 23"),
        (RedisCacheProps, {"maintenance": {"day": "MONDAY"}}, "maintenance", "MaintenanceWindow"),
    ],
)
def test_bad_props_name_the_field_and_what_is_allowed(props, change, field, allowed) -> None:
    base = {FirestoreDatabaseProps: DATABASE, RedisCacheProps: REDIS}.get(props, {})
    with pytest.raises(ValueError) as raised:
        props(**{**base, **change})
    message = str(raised.value)
    assert message.startswith(f"{props.__name__}.{field}: "), message
    assert allowed in message, message
    assert ", got " in message, message


@pytest.mark.parametrize(
    ("fields", "scope", "message"),
    [
        ((("a", "ASCENDING"),), "COLLECTION", "needs at least 2 fields"),
        ((("a", "ASCENDING"), ("b", "UP")), "COLLECTION", "items must be (path, ASCENDING"),
        ((("a", "ASCENDING"), ("a", "DESCENDING")), "COLLECTION", "must not repeat"),
        ((("a", "ASCENDING"), ("b", "ASCENDING")), "DATABASE", "query_scope: must be one of"),
    ],
)
def test_bad_composite_index_names_the_field(fields, scope, message) -> None:
    with pytest.raises(ValueError) as raised:
        CompositeIndex(collection="inquiries", fields=fields, query_scope=scope)
    assert str(raised.value).startswith("CompositeIndex.")
    assert message in str(raised.value)
