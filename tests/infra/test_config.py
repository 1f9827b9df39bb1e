"""Environment files: a wrong one names file, field and what is allowed, and writes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.loader import ConfigError, _parse_yaml, environment_names, load_environments
from tests.infra.conftest import ENV_NAMES, REPO


def copy_environments(target: Path) -> Path:
    """The shipped environment files in `target/environments`, for editing in a test."""
    folder = target / "environments"
    shutil.copytree(REPO / "environments", folder)
    return folder


def edit(path: Path, change: dict) -> None:
    """Set dotted keys (`compute.api.max_instances`) in a YAML file; None deletes the key."""
    data = yaml.safe_load(path.read_text())
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    path.write_text(yaml.safe_dump(data))


def errors_for(tmp_path: Path, env: str, change: dict) -> list[str]:
    folder = copy_environments(tmp_path)
    edit(folder / f"{env}.yaml", change)
    with pytest.raises(ConfigError) as caught:
        load_environments(directory=folder)
    return caught.value.lines


def test_the_shipped_environments_are_valid_and_distinct() -> None:
    envs = load_environments(directory=REPO / "environments")
    assert [e.name for e in envs] == sorted(ENV_NAMES)
    assert len({e.config.project_id for e in envs}) == 3
    for env in envs:
        assert env.labels["env"] == env.name and env.labels["app"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"compute.api.min_instances": 3, "compute.api.max_instances": 2},
            "compute.api.max_instances: must be >= min_instances (3), got 2",
        ),
        (
            {"redis.tier": "premium"},
            "redis.tier: must be one of 'off', 'basic' or 'standard_ha', got 'premium'",
        ),
        ({"compute.worker.cpu": 3}, "compute.worker.cpu: must be one of 1, 2, 4, 6, 8, got '3'"),
        # Matched whole: `^...$` with `match` would take the trailing newline.
        (
            {"project_id": "acme-agents-dev\n"},
            "project_id: must be 6-30 lowercase letters, digits or hyphens, starting with a letter"
            " and not ending with a hyphen, got 'acme-agents-dev\\n'",
        ),
        (
            {"network.psa_prefix_length": 12},
            "network.psa_prefix_length: must be >= 16, got 12",
        ),
        (
            {"compute.api.memory": "1GB"},
            "compute.api.memory: must be a size like 512Mi or 2Gi, got '1GB'",
        ),
        (
            {"messaging.max_delivery_attempts": 3},
            "messaging.max_delivery_attempts: must be >= 5, got 3",
        ),
        (
            {"messaging.minimum_backoff_seconds": 2, "messaging.max_delivery_attempts": 5},
            "messaging.max_delivery_attempts: must be at least 7 with minimum_backoff_seconds 2:"
            " the retry before the last attempt must come 60 s (the worker's inquiry lease)"
            " after the one before, got 5",
        ),
        (
            {"messaging.maximum_backoff_seconds": 30, "messaging.max_delivery_attempts": 20},
            "messaging.max_delivery_attempts: cannot outlast the worker's 60 s inquiry lease"
            " with minimum_backoff_seconds 10 and maximum_backoff_seconds 30",
        ),
        ({"project_id": "Acme_Prod"}, "project_id: must be 6-30 lowercase letters"),
        (
            {"project_number": "12ab"},
            "project_number: must be the project's number (digits only), got '12ab'",
        ),
        ({"firestore": None}, "firestore: is required"),
        ({"redis.memory_size_gb": 1.5}, "redis.memory_size_gb: must be an integer, got 1.5"),
        ({"network": "default"}, "network: must be a mapping, got 'default'"),
        (
            {"firestore.point_in_time_recovery": "yes"},
            "firestore.point_in_time_recovery: must be true or false, got 'yes'",
        ),
        (
            {"edge.domains": None},
            "edge.domains: must list at least one domain when edge is enabled",
        ),
        (
            {"compute.worker.min_instances": 12, "compute.worker.max_instances": None},
            "compute.worker.max_instances: must be >= min_instances (12), got 10",
        ),
        (
            {"network.subnet_cidr": "8.8.8.0/24"},
            "network.subnet_cidr: must be a private IPv4 range",
        ),
        (
            {"app.callback_allowed_hosts": ["hooks.example.com"]},
            "app.callback_signing_secret: required when",
        ),
        ({"labels": {"env": "live"}}, "labels: must not set 'env'"),
        (
            {"compute.api.max_instance": 4},
            "compute.api.max_instance: is not a known setting (allowed: cpu,",
        ),
        (
            {"auth.mfa": "always"},
            "auth.mfa: must be one of 'off', 'optional' or 'mandatory', got 'always'",
        ),
        (
            {"auth.password_policy.min_length": 5},
            "auth.password_policy.min_length: must be >= 6, got 5",
        ),
        (
            {"auth.password_policy.min_length": 31},
            "auth.password_policy.min_length: must be <= 30, got 31",
        ),
        (
            {"auth.password_policy.enforce": False},
            "auth.password_policy.force_upgrade_on_sign_in: needs enforce: true",
        ),
        (
            {"auth.password_policy.require_digits": True},
            "auth.password_policy.require_digits: is not a known setting (allowed: min_length,",
        ),
        (
            {"auth.customer_claim": "email"},
            "auth.customer_claim: must be a custom claim name (letters, digits and underscores,"
            " at most 64, not starting with a digit) other than",
        ),
        ({"auth.customer_claim": "customer id"}, "auth.customer_claim: must be a custom claim"),
        (
            {"app.handoff_wait_alert_seconds": 5},
            "app.handoff_wait_alert_seconds: must be between 30 and 86400, got 5",
        ),
        (
            {"observability.handoff_wait_threshold": 0},
            "observability.handoff_wait_threshold: must be >= 1, got 0",
        ),
        (
            {"auth.authorized_domains": ["https://shop.example.com"]},
            "auth.authorized_domains: must be host names (or localhost) without scheme, got"
            " 'https://shop.example.com'",
        ),
        (
            {"auth.authorized_domains": ["shop.example.com", "shop.example.com"]},
            "auth.authorized_domains: each domain may appear once",
        ),
        (
            {"auth.pseudonym_key_secret": "log key"},
            "auth.pseudonym_key_secret: must be a Secret Manager secret id, got 'log key'",
        ),
        (
            {
                "edge.enabled": False,
                "compute.api.public": False,
                "compute.api.invoker_iam_disabled": False,
            },
            "auth: must list at least one host in authorized_domains when the api has no public"
            " host",
        ),
        (
            {"compute.api.public": False, "edge.enabled": False},
            "compute.api.invoker_iam_disabled: needs public: true (with the invoker check off,"
            " anyone who reaches the api may call it)",
        ),
        (
            {"edge.enabled": False},
            "edge: enabled: true is needed by compute.api.invoker_iam_disabled: without Cloud"
            " Run's invoker check, only the load balancer's ingress (and Cloud Armor) may stand"
            " before the api",
        ),
        ({"compute.api.invoker_iam_disabled": "yes"}, "compute.api.invoker_iam_disabled: must"),
        (
            {"encryption.rotation_days": 365},
            "encryption.rotation_days: must be 1 to 90 days (keys rotate at most daily, and"
            " checkov's CKV_GCP_43 holds them to 90), got 365",
        ),
        ({"encryption.rotation_days": 0}, "encryption.rotation_days: must be 1 to 90 days"),
        ({"encryption.cmek": "on"}, "encryption.cmek: must be true or false, got 'on'"),
        ({"encryption.key_ring_location": "eu"}, "encryption.key_ring_location: is not a known"),
        (
            {"firestore.location": "nam7"},
            "encryption: cmek needs firestore.location to be a region or a multi-region Cloud KMS"
            " holds keys for: nam5 (us), eur3 (europe), got 'nam7'",
        ),
    ],
)
def test_a_wrong_value_names_the_file_the_field_and_what_is_allowed(
    tmp_path: Path, change: dict, expected: str
) -> None:
    lines = errors_for(tmp_path, "prod", change)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path}/environments/prod.yaml: {expected}")


def test_prod_signs_customers_in_more_strictly_than_dev() -> None:
    envs = {e.name: e.config.auth for e in load_environments(directory=REPO / "environments")}
    dev, staging, prod = envs["dev"], envs["staging"], envs["prod"]
    # `mfa: off` in YAML is the boolean false; it still means off.
    assert dev.mfa == "off" and prod.mfa != "off"
    policy = prod.password_policy
    assert policy.enforce and policy.force_upgrade_on_sign_in
    assert policy.min_length >= 12
    lengths = [e.password_policy.min_length for e in (dev, staging, prod)]
    assert lengths == sorted(lengths) and lengths[0] < lengths[2], lengths
    classes = ("uppercase", "lowercase", "numeric", "non_alphanumeric")
    assert all(getattr(policy, f"require_{c}") for c in classes)
    assert prod.pseudonym_key_secret


def test_a_file_without_an_auth_section_gets_the_strict_defaults(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    edit(folder / "dev.yaml", {"auth": None})
    (dev,) = load_environments(["dev"], directory=folder)
    assert dev.config.auth.customer_claim == "customer_id"
    assert dev.config.auth.password_policy.enforce is True
    assert dev.config.auth.password_policy.min_length == 12


def test_every_wrong_file_is_reported_at_once(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    edit(folder / "dev.yaml", {"redis.tier": "huge"})
    (folder / "staging.yaml").write_text("project_id: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_environments(directory=folder)
    assert [line.split(":")[0] for line in caught.value.lines] == [
        f"{folder}/dev.yaml",
        f"{folder}/staging.yaml",
    ]
    assert "is not valid YAML (line 2)" in caught.value.lines[1]


def test_files_read_as_yaml_safe_load_reads_them_and_errors_keep_its_words(
    tmp_path: Path,
) -> None:
    for name in ENV_NAMES:
        text = (REPO / "environments" / f"{name}.yaml").read_text()
        assert _parse_yaml(text) == yaml.safe_load(text)
    folder = copy_environments(tmp_path)
    (folder / "dev.yaml").write_text("project_id: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_environments(["dev"], directory=folder)
    assert caught.value.lines[0].endswith("expected ',' or ']', but got '<stream end>'")


def test_two_environments_may_not_share_a_project_or_a_state_prefix(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    staging = yaml.safe_load((folder / "staging.yaml").read_text())
    edit(folder / "dev.yaml", {"project_id": staging["project_id"], "state": staging["state"]})
    with pytest.raises(ConfigError) as caught:
        load_environments(directory=folder)
    assert any("project_id: must differ from environment" in line for line in caught.value.lines)
    assert any("state.prefix: must differ from environment" in line for line in caught.value.lines)


def test_redis_off_reads_the_yaml_boolean_and_an_unknown_environment_lists_the_known(
    tmp_path: Path,
) -> None:
    folder = copy_environments(tmp_path)
    (folder / "dev.yaml").write_text(
        (folder / "dev.yaml").read_text().replace("tier: basic", "tier: off")
    )
    (dev,) = load_environments(["dev"], directory=folder)
    assert dev.config.redis.tier == "off"
    with pytest.raises(
        ConfigError, match="unknown environment 'qa': environments are dev, prod, staging"
    ):
        load_environments(["qa"], directory=folder)
    assert environment_names(folder) == ["dev", "prod", "staging"]


def run_synth(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    env.pop("CDKTF_OUTDIR", None)
    return subprocess.run(
        [sys.executable, "-m", "infra", "synth", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def previous_output(tmp_path: Path) -> Path:
    """A `cdktf.out` from an earlier synth, which a failed synth must leave as it was."""
    out = tmp_path / "cdktf.out"
    (out / "stacks" / "prod").mkdir(parents=True)
    (out / "stacks" / "prod" / "cdk.tf.json").write_text('{"previous": true}')
    (out / "manifest.json").write_text('{"stacks": {}}')
    return out


def test_a_wrong_file_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    edit(folder / "prod.yaml", {"compute.api.min_instances": 2, "compute.api.max_instances": 1})
    out = previous_output(tmp_path)
    before = snapshot(out)
    done = run_synth(tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "environments/prod.yaml: compute.api.max_instances: must be >= min_instances (2), got 1"
    ]
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out", "environments"]


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        # The schema allows 8Gi; Cloud Run refuses it with 1 CPU.
        ({"compute.worker.memory": "8Gi"}, "Container.memory: "),
        # The schema knows a mandatory second factor; the module refuses it (see its docstring).
        ({"auth.mfa": "mandatory"}, "CustomerIdentityProps.mfa: 'mandatory' is refused"),
    ],
)
def test_a_value_a_module_refuses_fails_the_synth_and_writes_nothing(
    tmp_path: Path, change: dict, refusal: str
) -> None:
    # The module says so mid-synth, after other stacks were already built in memory: still
    # nothing may reach cdktf.out.
    folder = copy_environments(tmp_path)
    edit(folder / "prod.yaml", change)
    out = previous_output(tmp_path)
    before = snapshot(out)
    done = run_synth(tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"environments/prod.yaml: {refusal}")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out", "environments"]


def test_prod_turns_the_enterprise_controls_on_and_dev_leaves_them_off() -> None:
    """Customer-managed keys and a public api without an allUsers grant, in prod; dev keeps
    Google-managed keys and the plain grant."""
    envs = {e.name: e.config for e in load_environments(directory=REPO / "environments")}
    prod, dev = envs["prod"], envs["dev"]
    assert prod.encryption.cmek and prod.encryption.rotation_days <= 90
    assert prod.compute.api.invoker_iam_disabled and prod.edge.enabled
    assert not dev.encryption.cmek and not dev.compute.api.invoker_iam_disabled


def test_a_firestore_key_lives_where_cloud_kms_keeps_the_database_s_location() -> None:
    """The same table as the storage module's, which refuses a key anywhere else."""
    from infra.config import FirestoreConfig
    from modules.storage import FIRESTORE_KMS_LOCATIONS

    assert FirestoreConfig.KMS_LOCATIONS == FIRESTORE_KMS_LOCATIONS
    base = {"point_in_time_recovery": True, "delete_protection": True}
    where = {
        location: FirestoreConfig(location=location, **base).kms_location
        for location in ("eur3", "nam5", "europe-west1", "nam7")
    }
    assert where == {"eur3": "europe", "nam5": "us", "europe-west1": "europe-west1", "nam7": None}
