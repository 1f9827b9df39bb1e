"""Terraform's own init, validate and plan of a synthesized stack, against the stand-in.

Why a copy of the stack: the real stack folder belongs to `make plan` (its gcs backend, its
`.terraform` and lock file for the real provider). The check works on a copy in a scratch
folder, with a `backend_override.tf.json` that swaps the gcs backend for a local one (an
override file replaces the backend and nothing else), so the stack itself is what Terraform
reads, unchanged. The plan runs with `-refresh=false -lock=false` and placeholder credentials:
nothing is read from, or written to, Google.

What each run gives: whether it passed, the step that failed with Terraform's own diagnostics
(a warning fails the run too, after the plan), the plan's summary line (`Plan: N to add, 0 to
change, 0 to destroy.`), and the plan as JSON (`terraform show -json`) for checkov's
`terraform_plan` framework.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.standin.mirror import Mirror, ensure_mirror

BACKEND_OVERRIDE = "backend_override.tf.json"
PLAN_FILE = "tfplan"
PLAN_JSON = "plan.json"
# Files of a stack folder that are Terraform's working state, never configuration.
_NOT_CONFIG = {".terraform", ".terraform.lock.hcl", PLAN_FILE, "terraform.tfstate"}
_SUMMARY = re.compile(r"^(Plan: \d+ to add, \d+ to change, \d+ to destroy\.)$", re.M)
# Placeholder credentials: the stand-in never uses them; they keep real ones out of the run.
_CREDENTIAL_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CREDENTIALS",
    "GOOGLE_CLOUD_KEYFILE_JSON",
    "GCLOUD_KEYFILE_JSON",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
PLACEHOLDER_TOKEN = "placeholder-offline-token"
STEP_TIMEOUT = 300


@dataclass
class StackRun:
    """What Terraform said about one stack."""

    name: str
    work_dir: Path
    failed_step: str | None = None
    output: str = ""
    summary: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed_step is None

    @property
    def plan_json(self) -> Path:
        return self.work_dir / PLAN_JSON

    def plan(self) -> dict[str, Any]:
        """The plan as `terraform show -json` wrote it."""
        plan: dict[str, Any] = json.loads(self.plan_json.read_text())
        return plan


def terraform_environment(mirror: Mirror, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Terraform command here: the mirror, no prompts, no checkpoint,
    no credentials but a placeholder token, no shared plugin cache or data folder."""
    env = dict(os.environ if base is None else base)
    for name in (*_CREDENTIAL_VARIABLES, "TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR", "TF_WORKSPACE"):
        env.pop(name, None)
    env.update(mirror.environment())
    env.update(
        {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "GOOGLE_OAUTH_ACCESS_TOKEN": PLACEHOLDER_TOKEN}
    )
    return env


def prepare(stack_dir: Path, work_dir: Path) -> None:
    """Copy the stack's configuration into `work_dir`, with a local backend in place of its own."""
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    for entry in stack_dir.iterdir():
        if entry.name in _NOT_CONFIG or entry.name == BACKEND_OVERRIDE:
            continue
        if entry.is_dir():
            shutil.copytree(entry, work_dir / entry.name)
        elif entry.name.endswith(".tf.json"):
            _copy_indented(entry, work_dir / entry.name)
        else:
            shutil.copy2(entry, work_dir / entry.name)
    if _declares_backend(stack_dir):
        override = {"terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}}
        (work_dir / BACKEND_OVERRIDE).write_text(json.dumps(override, indent=2) + "\n")


def _copy_indented(source: Path, target: Path) -> None:
    """The same JSON, one value a line: synth writes a stack on one line, and Terraform quotes
    the line of each problem it reports."""
    text = source.read_text()
    with contextlib.suppress(ValueError):  # not JSON: Terraform will say so about it as it is
        text = json.dumps(json.loads(text), indent=2) + "\n"
    target.write_text(text)


def _declares_backend(stack_dir: Path) -> bool:
    for path in stack_dir.glob("*.tf.json"):
        try:
            terraform = json.loads(path.read_text()).get("terraform", {})
        except ValueError:
            continue  # Terraform itself will say what is wrong with the file
        blocks = terraform if isinstance(terraform, list) else [terraform]
        if any(isinstance(block, dict) and block.get("backend") for block in blocks):
            return True
    return False


def plan_stack(
    stack_dir: Path,
    work_dir: Path,
    mirror: Mirror,
    terraform: str = "terraform",
    name: str | None = None,
) -> StackRun:
    """init, validate, plan and show one stack in `work_dir`; stop at the first failing step."""
    run = StackRun(name or stack_dir.name, work_dir)
    prepare(stack_dir, work_dir)
    env = terraform_environment(mirror)
    steps = [
        ("init", ["init", "-input=false", "-no-color"]),
        ("validate", ["validate", "-no-color"]),
        ("plan", ["plan", "-refresh=false", "-lock=false", "-input=false", "-no-color"]),
        ("show", ["show", "-json", "-no-color", PLAN_FILE]),
    ]
    steps[2][1].append(f"-out={PLAN_FILE}")
    for step, args in steps:
        done = subprocess.run(
            [terraform, *args],
            cwd=work_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            run.failed_step = step
            run.output = (done.stderr + done.stdout).strip()
            return run
        if step == "show":
            run.plan_json.write_text(done.stdout)
        elif step != "init":  # init warns that the lock file has one platform's checksum
            warnings = _warnings(done.stdout + done.stderr)
            if warnings and not run.warnings:
                run.output = (done.stderr + done.stdout).strip()
            run.warnings += warnings
        if step == "plan":
            found = _SUMMARY.search(done.stdout)
            run.summary = found.group(1) if found else "No changes."
    if run.warnings:
        # A warning is a finding too (a deprecated argument, a redundant ignore_changes): the
        # stacks are kept free of them, so that a new one is seen.
        run.failed_step = "warnings"
    return run


def _warnings(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("Warning: ")]


def plan_stacks(
    stacks: Sequence[tuple[str, Path]],
    scratch: Path,
    terraform: str = "terraform",
    mirror: Mirror | None = None,
    workers: int = 3,
) -> list[StackRun]:
    """`plan_stack` for each (name, folder), a few at a time, each in `scratch/<name>`."""
    mirror = mirror or ensure_mirror()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        runs = [
            pool.submit(plan_stack, folder, scratch / name, mirror, terraform, name)
            for name, folder in stacks
        ]
        return [future.result() for future in runs]
