"""The Makefile's bootstrap, `make clean`, and the refusal to act on placeholder values.

Why each:
- `make run` used to need Node.js, because one bootstrap installed the CDK with the app. The
  app's dependencies now have their own stamp; Node.js is asked for by the targets that
  synthesize. Run for real here, with a stand-in python and no Node.js on PATH. Both stamps
  install from the locks (requirements/*.txt) with hash checking, and a changed lock makes
  its stamp again.
- `make help` said `make clean` removed local data; it kept it. The help line now names each
  path removed and kept, and `make clean` is run to hold it to that.
- `make plan ENV=x` and `make apply ENV=x` would run terraform against the shipped
  placeholders (a project and a bucket that are not yours). Every target that acts on the
  project now stops first, naming each value still marked `# REPLACE`.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.infra.conftest import REPO
from tests.infra.test_makefile import make

# What each stamp runs with the venv's python: the app's locks, the app itself on top, then
# (the CDK and the test tools) the other locks.
PIP = "-m pip install --quiet --disable-pip-version-check"
LOCKED = "--require-hashes --no-deps --only-binary :all:"
APP_INSTALL = f"{PIP} {LOCKED} -r requirements/app.txt -r requirements/eval.txt"
EDITABLE_INSTALL = f"{PIP} --no-deps -e ."
DEV_INSTALL = f"{PIP} {LOCKED} -r requirements/infra.txt -r requirements/dev.txt"

# Stands in for python3 and for .venv/bin/python: logs each call; `-c` (the version check and
# the read of pyproject.toml) runs the real python, `-m venv` makes a venv of this script.
FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "{log}"
case "$1" in
  -c) exec "{python}" "$@" ;;
  -m) if [ "$2" = venv ]; then mkdir -p "$3/bin" && ln -s "$0" "$3/bin/python"; fi ;;
esac
"""
# Stands in for terraform and gcloud: logs each call.
FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""
TOOLS_WITHOUT_NODE = ("touch", "mkdir", "ln", "rm", "basename", "find", "cat")


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def project(tmp_path: Path, *folders: str) -> Path:
    """A scratch copy of the Makefile, its includes and `folders` of the repository."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("Makefile", "pyproject.toml", "cdktf.json"):
        shutil.copy(REPO / name, copy / name)
    for name in ("make", "requirements", *folders):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture
def without_node(tmp_path: Path) -> tuple[Path, Path, str]:
    """(project copy, call log, a PATH with the few tools the recipes use and no node)."""
    copy = project(tmp_path, "environments", "app")
    log = tmp_path / "calls.log"
    script(tmp_path / "python3", FAKE_PYTHON.format(log=log, python=sys.executable))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS_WITHOUT_NODE:
        (bin_dir / tool).symlink_to(require_binary(tool))
    return copy, log, str(bin_dir)


@pytest.mark.parametrize("goal", [["run"], ["token", "CUSTOMER=C001"], ["eval"]])
def test_run_token_and_eval_bootstrap_the_app_alone_without_node(
    without_node: tuple[Path, Path, str], goal: list[str]
) -> None:
    copy, log, path = without_node
    done = make(*goal, f"PYTHON={log.parent / 'python3'}", cwd=copy, path=path)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    installs = [call for call in calls if call.startswith("-m pip install")]
    assert installs == [APP_INSTALL, EDITABLE_INSTALL]
    assert not any("infra" in call for call in calls), "nothing of the CDK is installed or run"
    assert (copy / ".venv" / ".installed-app").exists()


def test_synth_asks_for_node_and_installs_the_cdk_after_the_app(
    without_node: tuple[Path, Path, str],
) -> None:
    copy, log, path = without_node
    python = f"PYTHON={log.parent / 'python3'}"
    refused = make("synth", python, cwd=copy, path=path)
    assert refused.returncode != 0
    assert "Node.js is required (jsii runs the CDK on it)" in refused.stderr
    assert DEV_INSTALL not in log.read_text().splitlines()

    node = Path(require_binary("node"))
    done = make("synth", python, cwd=copy, path=f"{path}:{node.parent}")
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    cdk = calls.index(DEV_INSTALL)
    assert calls.index(APP_INSTALL) < calls.index(EDITABLE_INSTALL) < cdk
    assert calls[cdk + 1 :] == [
        "-m infra.standin.stubs",
        "-O -c import infra.synth, infra.stack",
        "-O -m infra synth",
    ]


def test_test_installs_everything_on_a_clean_clone(tmp_path: Path) -> None:
    """`.ci/run` calls `make test` on a clean clone: the app, then the CDK and test tools."""
    done = make("-n", "test", cwd=project(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    pip = ".venv/bin/python " + PIP
    app = lines.index(f"{pip} {LOCKED} -r requirements/app.txt -r requirements/eval.txt")
    cdk = lines.index(f"{pip} {LOCKED} -r requirements/infra.txt -r requirements/dev.txt")
    locks = lines.index(".venv/bin/python scripts/locks.py check")
    tests = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert app < cdk < locks < tests


@pytest.mark.parametrize("lock", ["app.txt", "eval.txt", "infra.txt", "dev.txt"])
def test_a_changed_lock_makes_its_stamp_again(tmp_path: Path, lock: str) -> None:
    """Only then: while both stamps are newer than the locks, `make venv` installs nothing."""
    copy = project(tmp_path)
    (copy / ".venv").mkdir()
    for stamp in (".installed-app", ".installed"):
        (copy / ".venv" / stamp).touch()

    def installs() -> list[str]:
        done = make("-n", "venv", cwd=copy)
        assert done.returncode == 0, done.stderr
        calls = [line.removeprefix(".venv/bin/python ") for line in done.stdout.splitlines()]
        return [call for call in calls if call.startswith("-m pip install")]

    assert installs() == []
    future = time.time() + 5
    os.utime(copy / "requirements" / lock, (future, future))
    app_lock = lock in {"app.txt", "eval.txt"}
    # the CDK's stamp follows the app's: it is made again after the app's is
    expected = [APP_INSTALL, EDITABLE_INSTALL, DEV_INSTALL] if app_lock else [DEV_INSTALL]
    assert installs() == expected


def test_make_clean_removes_exactly_what_make_help_says(tmp_path: Path) -> None:
    copy = project(tmp_path)
    (line,) = [
        line
        for line in make("help", cwd=copy).stdout.splitlines()
        if line.split()[:2] == ["make", "clean"]
    ]
    removed_text, _, kept_text = re.split(r"\b(keeps?)\b", line, maxsplit=1)
    named_removed = set(re.findall(r"[\w.-]*\.[\w-]+", removed_text))
    named_kept = set(re.findall(r"[\w.-]*\.[\w-]+", kept_text))
    assert named_removed and named_kept, line
    others = {".hypothesis", "agent_platform_blueprint.egg-info", "benchmarks/results.json"}
    for name in named_removed | named_kept | others:
        (copy / name).mkdir(parents=True)
        (copy / name / "inside").write_text("x")
    (copy / "cdktf.out" / "stacks" / "dev").mkdir(parents=True)
    (copy / "cdktf.out" / "stacks" / "dev" / "tfplan").write_text("plan")

    done = make("clean", cwd=copy)
    assert done.returncode == 0, done.stderr
    gone = {name for name in named_removed | named_kept | others if not (copy / name).exists()}
    assert gone == named_removed, f"help says: {line}"


def placeholder_project(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A copy that reads its environments with the real python, fake terraform and gcloud."""
    copy = project(tmp_path, "environments", "infra", "app")
    log = tmp_path / "calls.log"
    fakes = [script(tmp_path / tool, FAKE_TOOL.format(log=log)) for tool in ("terraform", "gcloud")]
    for stamp in ("app-stamp", "venv-stamp"):
        (tmp_path / stamp).touch()
    settings = [
        f"PY={sys.executable}",
        f"APP_STAMP={tmp_path / 'app-stamp'}",
        f"STAMP={tmp_path / 'venv-stamp'}",
        f"TERRAFORM={fakes[0]}",
        f"GCLOUD={fakes[1]}",
        "IMAGE_TAG=t1",
    ]
    return copy, log, settings


MARKED = {
    "dev": ["project_id", "project_number", "state.bucket"],
    "prod": [
        "project_id",
        "project_number",
        "state.bucket",
        "edge.domains[0]",
        "auth.pseudonym_key_secret",
        "observability.notification_emails[0]",
    ],
}


@pytest.mark.parametrize("goal", ["plan", "apply", "destroy", "bootstrap", "build", "deploy"])
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_acting_on_a_project_refuses_while_a_placeholder_is_left(
    tmp_path: Path, goal: str, env: str
) -> None:
    copy, log, settings = placeholder_project(tmp_path)
    done = make(goal, f"ENV={env}", *settings, cwd=copy)
    assert done.returncode != 0
    named = [
        line.split(": ")[1]
        for line in done.stderr.splitlines()
        if line.startswith(f"environments/{env}.yaml: ")
    ]
    assert named == MARKED[env], done.stderr
    assert f"{len(MARKED[env])} value(s) of environments/{env}.yaml still marked" in done.stderr
    assert not log.exists(), "terraform or gcloud ran"
    assert not (copy / "cdktf.out").exists(), "nothing was synthesized either"


def test_once_each_marker_is_gone_apply_runs_terraform(tmp_path: Path) -> None:
    copy, log, settings = placeholder_project(tmp_path)
    dev = copy / "environments" / "dev.yaml"
    dev.write_text(dev.read_text().replace("# REPLACE:", "#"))
    listed = make("placeholders", "ENV=dev", *settings, cwd=copy)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "environments/dev.yaml: no value marked # REPLACE\n"

    (copy / "cdktf.out" / "stacks" / "dev").mkdir(parents=True)
    (copy / "cdktf.out" / "stacks" / "dev" / "tfplan").write_text("plan")
    applied = make("apply", "ENV=dev", *settings, cwd=copy)
    assert applied.returncode == 0, applied.stderr
    assert log.read_text().splitlines() == [
        "terraform -chdir=cdktf.out/stacks/dev apply -input=false tfplan"
    ]


def test_synth_and_validate_keep_working_with_the_placeholders() -> None:
    """Only what acts on a project checks: `make -n` shows synth and validate do not."""
    for goal in ("synth", "validate"):
        done = make("-n", goal)
        assert done.returncode == 0, done.stderr
        assert "infra placeholders" not in done.stdout
    planned = make("-n", "plan", "ENV=dev")
    assert ".venv/bin/python -m infra placeholders dev" in planned.stdout.splitlines()
