"""Terraform itself validates and plans every stack, offline, against the stand-in provider.

The schema check sees names, nesting and enum values; Terraform sees the rest: references,
types, lifecycle blocks, outputs, cycles, and what a plan evaluates. Each broken copy below
breaks one of those in a real stack and must be refused, naming the problem.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.schema_check import count_resources
from infra.standin.run import BACKEND_OVERRIDE, plan_stacks
from infra.synth import VERSIONS_FILE
from tests.infra.conftest import ENV_NAMES, REPO, Synthesized

Mutation = Callable[[dict[str, Any]], None]


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_every_stack_validates_and_plans(env_name: str, stack_plans: dict, synthesized) -> None:
    run = stack_plans[env_name]
    assert run.ok, f"terraform {run.failed_step} failed on {env_name}:\n{run.output[-4000:]}"
    assert run.warnings == []
    created = count_resources(synthesized.stacks[env_name])
    assert run.summary == f"Plan: {created} to add, 0 to change, 0 to destroy."


def test_the_plan_holds_what_the_stack_configures(stack_plans: dict, synthesized) -> None:
    """Configured values are planned as written; computed ones the stack leaves to the
    provider (ids, generated names) are unknown until apply, as the real provider plans them."""
    plan = stack_plans["prod"].plan()
    changes = {change["address"]: change["change"] for change in plan["resource_changes"]}
    assert {change["actions"][0] for change in changes.values()} == {"create"}
    topics = {
        address: change
        for address, change in changes.items()
        if address.startswith("google_pubsub_topic.")
    }
    names = {change["after"]["name"] for change in topics.values()}
    assert "agents-prod-inquiries" in names, names
    for change in topics.values():
        assert change["after_unknown"]["id"] is True
        assert change["after"]["labels"] == {"app": "agents", "env": "prod"}
    services = [c for a, c in changes.items() if a.startswith("google_cloud_run_v2_service.")]
    assert all(service["after_unknown"]["uri"] is True for service in services)
    # The api's url output comes from a computed attribute: unknown in the plan.
    assert plan["planned_values"]["outputs"]["api_url"].get("value") is None


def test_the_real_stack_folder_is_left_alone(stack_plans: dict, synthesized) -> None:
    """The plan ran on a copy with a local backend; the stack keeps its gcs backend and gets
    no .terraform folder, lock file or override from the check."""
    for name, path in synthesized.files.items():
        folder = path.parent
        assert synthesized.stacks[name]["terraform"]["backend"]["gcs"]
        assert not (folder / ".terraform").exists()
        assert not (folder / ".terraform.lock.hcl").exists()
        assert not (folder / BACKEND_OVERRIDE).exists()
        override = json.loads((stack_plans[name].work_dir / BACKEND_OVERRIDE).read_text())
        assert override == {"terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}}


def _first(tf: dict[str, Any], rtype: str) -> dict[str, Any]:
    return tf["resource"][rtype][sorted(tf["resource"][rtype])[0]]


def misspelled_attribute_in_a_reference(tf: dict[str, Any]) -> None:
    subscription = _first(tf, "google_pubsub_subscription")
    subscription["topic"] = subscription["topic"].replace(".id}", ".idd}")


def reference_to_an_undeclared_resource(tf: dict[str, Any]) -> None:
    _first(tf, "google_pubsub_subscription")["topic"] = "${google_pubsub_topic.undeclared.id}"


def string_where_a_number_belongs(tf: dict[str, Any]) -> None:
    _first(tf, "google_pubsub_subscription")["ack_deadline_seconds"] = "sixty"


def dependency_cycle(tf: dict[str, Any]) -> None:
    (first, one), (second, other) = sorted(tf["resource"]["google_pubsub_subscription"].items())[:2]
    one["depends_on"] = [*one.get("depends_on", []), f"google_pubsub_subscription.{second}"]
    other["depends_on"] = [*other.get("depends_on", []), f"google_pubsub_subscription.{first}"]


def ignore_changes_naming_a_missing_attribute(tf: dict[str, Any]) -> None:
    _first(tf, "google_cloud_run_v2_service")["lifecycle"]["ignore_changes"].append("imag")


def output_of_a_missing_attribute(tf: dict[str, Any]) -> None:
    output = tf["output"]["api_url"]
    output["value"] = output["value"].replace(".uri}", ".url}")


def ignore_changes_naming_a_computed_attribute(tf: dict[str, Any]) -> None:
    """Not an error for Terraform, a warning; the check fails on warnings too."""
    _first(tf, "google_cloud_run_v2_service")["lifecycle"]["ignore_changes"].append("uri")


# mutation -> (the step that must fail, what Terraform must say)
BROKEN: dict[Mutation, tuple[str, list[str]]] = {
    misspelled_attribute_in_a_reference: (
        "validate",
        ["Error: Unsupported attribute", 'named "idd"', 'Did you mean "id"?'],
    ),
    reference_to_an_undeclared_resource: (
        "validate",
        ["Error: Reference to undeclared resource", '"google_pubsub_topic" "undeclared"'],
    ),
    string_where_a_number_belongs: (
        "validate",
        ["Error: Incorrect attribute value type", '"ack_deadline_seconds": a number is'],
    ),
    dependency_cycle: ("validate", ["Error: Cycle: google_pubsub_subscription."]),
    ignore_changes_naming_a_missing_attribute: (
        "validate",
        ["Error: Unsupported attribute", "lifecycle.ignore_changes", '"imag"'],
    ),
    output_of_a_missing_attribute: (
        "validate",
        ["Error: Unsupported attribute", "in output.api_url", 'named "url"'],
    ),
    ignore_changes_naming_a_computed_attribute: (
        "warnings",
        ["Warning: Redundant ignore_changes element", "The attribute uri is decided by"],
    ),
}


@pytest.fixture(scope="module")
def broken_runs(
    synthesized: Synthesized,
    terraform: str,
    standin_mirror: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Each mutation applied to its own copy of the dev stack, all planned together."""
    base = tmp_path_factory.mktemp("broken-stacks")
    versions = synthesized.files["dev"].parent / VERSIONS_FILE
    stacks = []
    for mutation in BROKEN:
        tf = copy.deepcopy(synthesized.stacks["dev"])
        mutation(tf)
        folder = base / mutation.__name__
        folder.mkdir()
        (folder / "cdk.tf.json").write_text(json.dumps(tf))
        (folder / VERSIONS_FILE).write_text(versions.read_text())
        stacks.append((mutation.__name__, folder))
    scratch = tmp_path_factory.mktemp("broken-plans")
    return {run.name: run for run in plan_stacks(stacks, scratch, terraform, standin_mirror)}


@pytest.mark.parametrize("mutation", list(BROKEN), ids=lambda m: m.__name__)
def test_a_broken_copy_is_refused_with_the_problem_named(
    mutation: Mutation, broken_runs: dict[str, Any]
) -> None:
    run = broken_runs[mutation.__name__]
    step, messages = BROKEN[mutation]
    assert run.failed_step == step, run.output[-3000:]
    for message in messages:
        assert message in run.output, f"{message!r} not in:\n{run.output[-3000:]}"


def _validate_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", "validate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_command_plans_one_stack_folder_and_prints_its_plan_line(
    synthesized: Synthesized, terraform: str, tmp_path: Path
) -> None:
    """`make validate STACK=<folder>`: a copy of a synthesized stack folder, checked alone."""
    folder = tmp_path / "dev-copy"
    source = synthesized.files["dev"].parent
    folder.mkdir()
    for name in ("cdk.tf.json", VERSIONS_FILE):
        (folder / name).write_text((source / name).read_text())
    scratch = tmp_path / "scratch"
    done = _validate_command("--stack", str(folder), "--scratch", str(scratch))
    assert done.returncode == 0, done.stderr[-3000:]
    created = count_resources(synthesized.stacks["dev"])
    assert f"dev-copy: Plan: {created} to add, 0 to change, 0 to destroy." in done.stdout
    assert (scratch / "dev-copy" / "plan.json").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["cdk.tf.json", VERSIONS_FILE]

    tf = json.loads((folder / "cdk.tf.json").read_text())
    output_of_a_missing_attribute(tf)
    (folder / "cdk.tf.json").write_text(json.dumps(tf))
    done = _validate_command("--stack", str(folder), "--scratch", str(scratch))
    assert done.returncode == 1
    assert "dev-copy: terraform validate failed" in done.stderr
    assert 'named "url"' in done.stderr
    assert "failed in dev-copy" in done.stdout


def test_the_command_names_a_folder_without_a_stack(tmp_path: Path) -> None:
    done = _validate_command("--stack", str(tmp_path))
    assert done.returncode == 1
    assert f"{tmp_path}: no cdk.tf.json here" in done.stderr


def test_the_command_says_when_terraform_is_missing(synthesized: Synthesized) -> None:
    out = synthesized.files["dev"].parents[2]
    done = _validate_command("--out", str(out), "--env", "dev", "--terraform", "no-terraform-here")
    assert done.returncode == 1
    assert "no-terraform-here not found" in done.stderr
    assert "provider schema" in done.stdout, "the schema check still ran first"
