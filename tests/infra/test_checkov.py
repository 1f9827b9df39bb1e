"""checkov on every environment and its plan: zero failed checks, every skip with its reason.

Each stack is scanned twice in one checkov run: its JSON (`terraform_json`) and Terraform's
plan of it against the stand-in provider (`terraform_plan`, which runs the graph checks too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.checkov_gate import Finding, declared_skips, evaluate, run_gate
from tests.conftest import require
from tests.infra.conftest import ENV_NAMES, REPO

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def checkov() -> Path:
    require(CHECKOV.exists(), "checkov is not installed (make checkov-venv)")
    return CHECKOV


@pytest.fixture(scope="module")
def gate(checkov: Path, synthesized: Any, stack_plans: dict[str, Any]) -> Any:
    files = [synthesized.files[name] for name in ENV_NAMES]
    plans = {stack_plans[name].plan_json: synthesized.files[name] for name in ENV_NAMES}
    return run_gate(checkov, files, plans)


def test_no_failed_check_in_any_environment(gate: Any) -> None:
    assert gate.failures == [], "\n".join(gate.report_lines())
    assert gate.problems == []
    assert gate.passed > 300, "checkov really scanned the stacks and their plans"


def test_the_plans_were_scanned_and_their_skips_judged(gate: Any) -> None:
    """The topics' missing customer-managed key fails both scans; the one skip on each topic,
    with its reason, covers both."""
    scans = {(f.address, f.check_id): set() for f, _ in gate.skipped}
    for finding, _ in gate.skipped:
        scans[(finding.address, finding.check_id)].add(finding.scan)
    topic_skips = {key: found for key, found in scans.items() if key[1] == "CKV_GCP_83"}
    assert topic_skips, "the topics' CKV_GCP_83 skips"
    assert all(found == {"terraform_json", "terraform_plan"} for found in topic_skips.values())


def test_every_skip_has_its_reason_on_the_resource(gate: Any, synthesized: Any) -> None:
    for finding, reason in gate.skipped:
        tf = json.loads(finding.file.read_text())
        rtype, name = finding.address.split(".", 1)
        comment = tf["resource"][rtype][name]["//"]
        assert comment[f"checkov:skip={finding.check_id}"] == reason
        assert len(reason.split()) >= 8, (
            f"{finding.address}: say why {finding.check_id} does not apply"
        )


def test_checkov_does_find_a_misconfigured_resource(checkov: Path, tmp_path: Path) -> None:
    # Proves the gate is not vacuous: a bucket without uniform access or versioning fails.
    stack = tmp_path / "cdk.tf.json"
    stack.write_text(
        json.dumps({"resource": {"google_storage_bucket": {"b": {"name": "b", "location": "EU"}}}})
    )
    result = run_gate(checkov, [stack])
    assert {f.check_id for f in result.failures} >= {"CKV_GCP_29", "CKV_GCP_78"}
    assert not result.ok


def test_checkov_finds_a_misconfigured_resource_in_a_plan(
    checkov: Path, terraform: str, standin_mirror: Any, tmp_path: Path
) -> None:
    """The plan scan is not vacuous either: Terraform plans a bare bucket with the stand-in,
    and checkov's terraform_plan framework fails it, judged against the stack's (no) skips."""
    from infra.standin.run import plan_stack

    stack = tmp_path / "stack"
    stack.mkdir()
    tf = {
        "terraform": {
            "required_providers": {"google": {"source": "hashicorp/google", "version": "8.7.0"}}
        },
        "resource": {"google_storage_bucket": {"b": {"name": "b", "location": "EU"}}},
    }
    (stack / "cdk.tf.json").write_text(json.dumps(tf))
    run = plan_stack(stack, tmp_path / "work", standin_mirror, terraform)
    assert run.ok, run.output
    result = run_gate(checkov, [stack / "cdk.tf.json"], {run.plan_json: stack / "cdk.tf.json"})
    in_plan = {f.check_id for f in result.failures if f.scan == "terraform_plan"}
    assert in_plan >= {"CKV_GCP_29", "CKV_GCP_78"}
    assert all(f.address == "google_storage_bucket.b" for f in result.failures)
    assert not result.ok


STACK = Path("/x/cdk.tf.json")
PLAN = Path("/x/work/plan.json")


def report(*failed: tuple[str, str]) -> dict[str, Any]:
    return {
        "summary": {"passed": 3},
        "results": {
            "failed_checks": [
                {
                    "check_id": c,
                    "check_name": "n",
                    "resource": f"resource.{r}",
                    "file_path": str(STACK),
                }
                for c, r in failed
            ]
        },
    }


def stack_with(skips: dict[str, str]) -> dict[str, Any]:
    comment = {f"checkov:skip={check}": reason for check, reason in skips.items()}
    return {"resource": {"google_pubsub_topic": {"t": {"//": comment, "name": "t"}}}}


def test_a_failure_without_a_skip_on_its_resource_fails_the_gate() -> None:
    result = evaluate([report(("CKV_GCP_83", "t"))], {STACK: stack_with({})})
    assert result.failures == [Finding(STACK, "google_pubsub_topic.t", "CKV_GCP_83", "n")]
    assert not result.ok


def test_a_skip_needs_a_reason_and_a_matching_failure() -> None:
    no_reason = evaluate([report(("CKV_GCP_83", "t"))], {STACK: stack_with({"CKV_GCP_83": ""})})
    assert not no_reason.ok and "needs a reason" in no_reason.problems[0]
    stale = evaluate(
        [report()], {STACK: stack_with({"CKV_GCP_83": "a reason that is long enough"})}
    )
    assert not stale.ok and "matches no failed check" in stale.problems[0]
    fine = evaluate(
        [report(("CKV_GCP_83", "t"))],
        {STACK: stack_with({"CKV_GCP_83": "a reason that is long enough"})},
    )
    assert fine.ok and len(fine.skipped) == 1


def test_a_stack_checkov_cannot_parse_fails_the_gate() -> None:
    unparsed = report()
    unparsed["summary"] = {"passed": 0, "parsing_errors": 1}
    result = evaluate([unparsed], {STACK: stack_with({})})
    assert not result.ok
    assert result.problems == ["checkov could not parse 1 stack file(s): it runs no check on those"]


def test_skips_are_read_from_the_comment_key() -> None:
    tf = stack_with({"CKV_GCP_83": "why", "CKV_GCP_84": "why not"})
    tf["resource"]["google_pubsub_topic"]["t"]["//"]["metadata"] = {"path": "x"}
    assert declared_skips(tf) == {
        "google_pubsub_topic.t": {"CKV_GCP_83": "why", "CKV_GCP_84": "why not"}
    }


def plan_report(*failed: tuple[str, str], parsing_errors: int = 0) -> dict[str, Any]:
    return {
        "check_type": "terraform_plan",
        "summary": {"passed": 5, "parsing_errors": parsing_errors},
        "results": {
            "failed_checks": [
                {
                    "check_id": c,
                    "check_name": "n",
                    "resource": f"google_pubsub_topic.{r}",
                    "file_path": str(PLAN),
                    "file_abs_path": str(PLAN),
                }
                for c, r in failed
            ]
        },
    }


def test_a_failure_in_a_plan_is_judged_by_the_skips_of_its_stack() -> None:
    reason = {"CKV_GCP_83": "a reason that is long enough"}
    covered = evaluate(
        [report(("CKV_GCP_83", "t")), plan_report(("CKV_GCP_83", "t"))],
        {STACK: stack_with(reason)},
        {PLAN: STACK},
    )
    assert covered.ok and [f.scan for f, _ in covered.skipped] == [
        "terraform_json",
        "terraform_plan",
    ]
    assert covered.passed == 8
    # A graph check only the plan scan runs still needs its own skip on the resource.
    graph = evaluate(
        [report(), plan_report(("CKV2_GCP_1", "t"))], {STACK: stack_with({})}, {PLAN: STACK}
    )
    assert graph.failures == [
        Finding(STACK, "google_pubsub_topic.t", "CKV2_GCP_1", "n", "terraform_plan")
    ]
    # A skip that only the plan scan uses is not stale.
    plan_only = evaluate(
        [report(), plan_report(("CKV_GCP_83", "t"))], {STACK: stack_with(reason)}, {PLAN: STACK}
    )
    assert plan_only.ok


def test_a_plan_checkov_cannot_parse_fails_the_gate() -> None:
    result = evaluate([plan_report(parsing_errors=1)], {STACK: stack_with({})}, {PLAN: STACK})
    assert result.problems == ["checkov could not parse 1 plan file(s): it runs no check on those"]
