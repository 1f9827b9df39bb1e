"""The infra make targets: what plan and apply run, ENV checks, a synth that skips work."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.infra.conftest import REPO


def make(*args: str, cwd: Path = REPO, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """`make args` in `cwd` (with `path` as PATH when given), as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k not in {"ENV", "MAKEFLAGS", "MAKELEVEL"}}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [require_binary("make"), "--no-print-directory", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_plan_inits_and_saves_a_plan_in_the_environment_stack() -> None:
    done = make("-n", "plan", "ENV=dev")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    init = lines.index("terraform -chdir=cdktf.out/stacks/dev init -input=false")
    plan = lines.index("terraform -chdir=cdktf.out/stacks/dev plan -input=false -out=tfplan")
    assert init < plan


def test_apply_applies_the_saved_plan_only() -> None:
    done = make("-n", "apply", "ENV=prod")
    assert done.returncode == 0, done.stderr
    assert "terraform -chdir=cdktf.out/stacks/prod apply -input=false tfplan" in done.stdout
    assert "plan -input" not in done.stdout, "apply never makes a fresh plan"


def test_validate_synthesizes_then_plans_every_stack_with_terraform() -> None:
    # -B: as if nothing were built yet, so a checkout synthesized a moment ago shows it too.
    done = make("-n", "-B", "validate")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    synth = next(i for i, line in enumerate(lines) if "-m infra synth" in line)
    validate = next(i for i, line in enumerate(lines) if "-m infra validate" in line)
    assert synth < validate
    assert lines[validate].split("-m infra validate")[1].split() == ["--terraform", "terraform"]


def test_validate_stack_checks_one_folder_without_synthesizing() -> None:
    done = make("-n", "validate", "STACK=/tmp/copies/dev")
    assert done.returncode == 0, done.stderr
    assert "-m infra validate --terraform terraform --stack /tmp/copies/dev" in done.stdout
    assert "infra synth" not in done.stdout


def test_bootstrap_creates_a_locked_down_versioned_bucket() -> None:
    done = make("-n", "bootstrap", "ENV=staging")
    assert done.returncode == 0, done.stderr
    for flag in ("--uniform-bucket-level-access", "--public-access-prevention", "--versioning"):
        assert flag in done.stdout
    assert "-m infra get staging state.bucket" in done.stdout


@pytest.mark.parametrize("target", ["plan", "apply", "synth", "destroy", "bootstrap"])
def test_an_unknown_environment_fails_with_the_list(target: str) -> None:
    done = make("-n", target, "ENV=qa")
    assert done.returncode != 0
    assert "unknown ENV 'qa': environments are dev prod staging" in done.stderr
    assert "terraform" not in done.stdout


def test_plan_without_env_fails_before_doing_anything() -> None:
    done = make("-n", "plan")
    assert done.returncode != 0
    assert "ENV is required" in done.stderr and "dev prod staging" in done.stderr
    assert done.stdout == ""


def test_help_lists_every_infra_target() -> None:
    done = make("help")
    targets = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("  make ")}
    assert {"synth", "plan", "apply", "destroy", "bootstrap", "validate", "checkov"} <= targets


FAKE_PY = """#!/bin/sh
# Stands in for `.venv/bin/python -O -m infra synth [--env E]`: logs the call, writes the outputs.
echo "$*" >> synth.log
if [ "$5" = "--env" ]; then envs="$6"; else envs="dev prod staging"; fi
for e in $envs; do mkdir -p cdktf.out/stacks/$e && echo '{}' > cdktf.out/stacks/$e/cdk.tf.json; done
"""


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The files the synth target reads, in a scratch folder with a fake python."""
    for name in ("Makefile", "pyproject.toml", "cdktf.json"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("make", "requirements", "environments", "infra", "modules"):
        shutil.copytree(
            REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (tmp_path / "app" / "config").mkdir(parents=True)
    shutil.copy(
        REPO / "app" / "config" / "settings.py", tmp_path / "app" / "config" / "settings.py"
    )
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PY)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "app-stamp").touch()
    (tmp_path / "venv-stamp").touch()
    return tmp_path


def synth_in(folder: Path, *args: str) -> list[str]:
    done = make(
        "synth",
        f"PY={folder / 'fake-python'}",
        f"APP_STAMP={folder / 'app-stamp'}",
        f"STAMP={folder / 'venv-stamp'}",
        *args,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    log = folder / "synth.log"
    return log.read_text().splitlines() if log.exists() else []


def touch_later(path: Path) -> None:
    """Make `path` newer than every stamp (file times can be coarse)."""
    future = time.time() + 5
    os.utime(path, (future, future))


def test_synth_does_no_work_when_nothing_changed(project_copy: Path) -> None:
    assert synth_in(project_copy) == ["-O -m infra synth"]
    assert synth_in(project_copy) == ["-O -m infra synth"], "second synth ran again"

    touch_later(project_copy / "environments" / "prod.yaml")
    assert len(synth_in(project_copy)) == 2, "an edited environment file re-synthesizes"

    shutil.rmtree(project_copy / "cdktf.out" / "stacks" / "dev")
    assert len(synth_in(project_copy)) == 3, "a deleted output re-synthesizes"

    touch_later(project_copy / "app" / "config" / "settings.py")
    assert synth_in(project_copy, "ENV=dev")[-1] == "-O -m infra synth --env dev"
