"""Run checkov on synthesized stacks and honour skips written next to the resource.

Why a gate around checkov: checkov's `terraform_json` framework (3.3.x) ignores inline skip
comments (bridgecrewio/checkov#4634), and a global `--skip-check` would hide the same finding
on every other resource. So a skip lives on the resource itself, in Terraform JSON's comment
key, with its reason (see `infra.skips.skip_check`):

    "//": {"checkov:skip=CKV_GCP_83": "why this check does not apply here"}

A failed check counts as skipped only when its resource carries such a skip with a non-empty
reason. A skip that matches no failure is an error too, so stale skips do not pile up.

The same gate covers checkov's `terraform_plan` framework on each stack's plan (`terraform show
-json` of the stand-in's plan, `infra.standin.run`), which also runs the graph checks: a
failure in a plan is judged by the skips on the resource of the stack the plan was made from,
and a skip is stale only when neither scan fails its check.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SKIP_PREFIX = "checkov:skip="


@dataclass(frozen=True)
class Finding:
    """One failed check on one resource of one stack file."""

    file: Path
    address: str  # google_pubsub_topic.messaging_inquiries_76EC951F
    check_id: str
    check_name: str
    scan: str = "terraform_json"  # or terraform_plan


@dataclass
class GateResult:
    passed: int = 0
    failures: list[Finding] = field(default_factory=list)
    skipped: list[tuple[Finding, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems

    def report_lines(self) -> list[str]:
        lines = [
            f"FAILED {f.check_id} {f.address} ({f.file}, {f.scan}): {f.check_name}"
            for f in self.failures
        ]
        lines += [f"FAILED {problem}" for problem in self.problems]
        lines += [
            f"skipped {f.check_id} {f.address} ({f.file}, {f.scan}): {why}"
            for f, why in self.skipped
        ]
        lines.append(
            f"checkov: {self.passed} passed, {len(self.failures)} failed,"
            f" {len(self.skipped)} skipped with a reason, {len(self.problems)} skip problem(s)"
        )
        return lines


def declared_skips(tf: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Skips written on resources: address -> {check id: reason}."""
    skips: dict[str, dict[str, str]] = {}
    for rtype, instances in tf.get("resource", {}).items():
        for name, config in instances.items():
            comment = config.get("//") if isinstance(config, dict) else None
            if not isinstance(comment, dict):
                continue
            for key, reason in comment.items():
                if key.startswith(SKIP_PREFIX):
                    skips.setdefault(f"{rtype}.{name}", {})[key[len(SKIP_PREFIX) :]] = reason
    return skips


def run_checkov(
    checkov: Path, files: Sequence[Path], plans: Sequence[Path] = ()
) -> list[dict[str, Any]]:
    """Checkov's JSON reports (one per framework) for the given stack files and plans."""
    frameworks = ["terraform_json", *(["terraform_plan"] if plans else [])]
    command = [str(checkov), "--framework", *frameworks, "--skip-download", "--quiet"]
    command += ["-o", "json"]
    for path in [*files, *plans]:
        command += ["-f", str(path.absolute())]
    # No network: checkov would otherwise try to fetch guidelines and report to a platform.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_UPLOAD": "TRUE"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    try:
        parsed = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError(f"checkov printed no JSON report: {done.stdout[:500]!r}") from None
    return parsed if isinstance(parsed, list) else [parsed]


def evaluate(
    reports: Iterable[dict[str, Any]],
    stacks: dict[Path, dict[str, Any]],
    plans: dict[Path, Path] | None = None,
) -> GateResult:
    """Apply resource-level skips to checkov's failures; the pure half of the gate.

    `plans` maps each scanned plan file to the stack file it was planned from."""
    result = GateResult()
    plans = plans or {}
    names = {path: _addresses_by_name(tf) for path, tf in stacks.items()}
    skips = {path: declared_skips(tf) for path, tf in stacks.items()}
    used: set[tuple[Path, str, str]] = set()
    for report in reports:
        summary = report.get("summary", {})
        scan = report.get("check_type", "terraform_json")
        result.passed += int(summary.get("passed", 0))
        if unparsed := int(summary.get("parsing_errors", 0)):
            # checkov runs no check on a file it cannot parse, and says so only here
            what = "plan" if scan == "terraform_plan" else "stack"
            result.problems.append(
                f"checkov could not parse {unparsed} {what} file(s): it runs no check on those"
            )
        for failed in report.get("results", {}).get("failed_checks", []):
            path = _stack_of(failed, stacks, plans)
            # terraform_json names a resource `resource.<name>`, terraform_plan by its address
            # (`<type>.<name>`, inside modules `module.<m>.<type>.<name>`).
            parts = failed["resource"].split(".")
            address = names[path].get(parts[-1], ".".join(parts[-2:]))
            finding = Finding(path, address, failed["check_id"], failed.get("check_name", ""), scan)
            reason = skips[path].get(address, {}).get(finding.check_id)
            if reason is None:
                result.failures.append(finding)
            elif not isinstance(reason, str) or len(reason.strip()) < 10:
                result.problems.append(
                    f"{address} ({path}): skip of {finding.check_id} needs a reason"
                    f" (a sentence), got {reason!r}"
                )
            else:
                result.skipped.append((finding, reason))
                used.add((path, address, finding.check_id))
    for path, by_address in skips.items():
        for address, checks in by_address.items():
            for check_id in checks:
                if (path, address, check_id) not in used:
                    result.problems.append(
                        f"{address} ({path}): skip of {check_id} matches no failed check; remove it"
                    )
    return result


def run_gate(
    checkov: Path, files: Sequence[Path], plans: dict[Path, Path] | None = None
) -> GateResult:
    """Scan the stack files (and the plans, each mapped to its stack file); judge the result."""
    stacks = {path.absolute(): json.loads(path.read_text()) for path in files}
    by_plan = {plan.absolute(): stack.absolute() for plan, stack in (plans or {}).items()}
    missing = set(by_plan.values()) - set(stacks)
    if missing:
        raise ValueError(f"plans of stacks that are not scanned: {sorted(map(str, missing))}")
    return evaluate(run_checkov(checkov, list(stacks), list(by_plan)), stacks, by_plan)


def _addresses_by_name(tf: dict[str, Any]) -> dict[str, str]:
    # checkov names a terraform_json resource by its name only; cdktn names are unique per stack.
    return {
        name: f"{rtype}.{name}"
        for rtype, instances in tf.get("resource", {}).items()
        for name in instances
    }


def _stack_of(
    failed: dict[str, Any], stacks: dict[Path, dict[str, Any]], plans: dict[Path, Path]
) -> Path:
    """The stack file whose skips judge a failure (for a plan: the stack it was made from)."""
    reported = Path(failed.get("file_abs_path") or failed["file_path"])
    if reported in plans:
        return plans[reported]
    if reported in stacks:
        return reported
    # Older reports name files relative to the scan root: accept a suffix only if it is unique.
    suffix = str(failed["file_path"])
    found = {stack for plan, stack in plans.items() if str(plan).endswith(suffix)}
    found |= {path for path in stacks if str(path).endswith(suffix)}
    if len(found) == 1:
        return found.pop()
    raise RuntimeError(f"checkov reported a file it was not given, or an ambiguous one: {reported}")
