""".pre-commit-config.yaml runs what `make lint` runs: the same commands, in the same order.

Why: two lists of the same checks drift apart. Both are read here, `make lint` through
`make -n` (so what counts is what make would run, not how the Makefile spells it), and the
config is validated by pre-commit itself; a command added to `make lint` fails this test
until its hook is added.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.infra.test_makefile import make

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".pre-commit-config.yaml"


def lint_commands(tmp_path: Path) -> list[str]:
    """What `make lint` runs once .venv is installed (stamps given as up to date)."""
    stamps = [tmp_path / "app-stamp", tmp_path / "venv-stamp"]
    for stamp in stamps:
        stamp.touch()
    done = make("-n", "lint", f"APP_STAMP={stamps[0]}", f"STAMP={stamps[1]}")
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line.strip()]


def test_the_hooks_are_the_commands_of_make_lint(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    (local,) = config["repos"]
    assert local["repo"] == "local", "hooks are run from .venv, never downloaded"
    hooks = local["hooks"]
    commands = [" ".join([hook["entry"], *hook.get("args", [])]) for hook in hooks]
    assert commands == lint_commands(tmp_path)
    assert len({hook["id"] for hook in hooks}) == len(hooks)
    for hook in hooks:
        # the whole tree, as `make lint` checks it, with the venv's own tool
        assert hook["language"] == "unsupported", hook["id"]
        assert hook["pass_filenames"] is False and hook["always_run"] is True, hook["id"]
        assert hook["entry"].startswith(".venv/bin/"), hook["id"]


def test_pre_commit_accepts_the_config() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deprecated" not in (done.stdout + done.stderr).lower()
