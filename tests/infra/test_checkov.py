"""checkov on every environment: zero failed checks, and every skip carries its reason."""

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
def gate(checkov: Path, synthesized: Any) -> Any:
    return run_gate(checkov, [synthesized.files[name] for name in ENV_NAMES])


def test_no_failed_check_in_any_environment(gate: Any) -> None:
    assert gate.failures == [], "\n".join(gate.report_lines())
    assert gate.problems == []
    assert gate.passed > 100, "checkov really scanned the stacks"


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


STACK = Path("/x/cdk.tf.json")


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
