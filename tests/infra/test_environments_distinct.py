"""Environments checked against each other whenever any one of them is read.

Why: a new `qa.yaml` copied from `dev.yaml` with only `name_prefix` changed used to pass
`make synth ENV=qa`, because only qa's file was read, and `make plan ENV=qa` would then have
planned against dev's project and dev's state. Now every file is read and compared, whichever
environment a command acts on; a clash is reported in the file of the environment being
worked on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.loader import ConfigError, load_environments
from tests.infra.conftest import REPO
from tests.infra.test_config import copy_environments, edit
from tests.infra.test_makefile import make


def copied_as_qa(folder: Path, change: dict) -> Path:
    """`qa.yaml`: dev's file with `change` applied, as a user starts a new environment."""
    qa = folder / "qa.yaml"
    shutil.copy(folder / "dev.yaml", qa)
    edit(qa, change)
    return qa


def refusals(folder: Path, names: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_environments(names, directory=folder)
    return caught.value.lines


def test_a_copy_with_a_new_name_prefix_is_refused_when_synthesized_alone(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    copied_as_qa(folder, {"name_prefix": "agents-qa"})
    lines = refusals(folder, ["qa"])
    assert [line.split(": ")[:2] for line in lines] == [
        [f"{folder}/qa.yaml", "project_id"],
        [f"{folder}/qa.yaml", "project_number"],
        [f"{folder}/qa.yaml", "state.prefix"],
    ]
    assert all("must differ from environment 'dev'" in line for line in lines)
    assert "got 'acme-agents-dev'" in lines[0]
    assert "in bucket 'acme-agents-dev-tfstate'" in lines[2] and "got 'agents/dev'" in lines[2]


def test_an_equal_project_number_under_a_new_project_id_is_refused(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    copied_as_qa(
        folder,
        {"name_prefix": "agents-qa", "project_id": "acme-agents-qa", "state.prefix": "agents/qa"},
    )
    (line,) = refusals(folder, ["qa"])
    assert line == (
        f"{folder}/qa.yaml: project_number: must differ from environment 'dev' (it names one"
        " project), got '123456789012'"
    )


def test_two_environments_may_not_serve_one_domain(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    prod = yaml.safe_load((folder / "prod.yaml").read_text())
    edit(folder / "staging.yaml", {"edge": {"enabled": True, "domains": prod["edge"]["domains"]}})
    (line,) = refusals(folder, ["staging"])
    assert line.startswith(
        f"{folder}/staging.yaml: edge.domains: must differ from environment 'prod' (a domain"
        " points at one load balancer), got 'agents.example.com'"
    )
    # A domain listed where the edge is off serves nothing: no clash.
    edit(folder / "staging.yaml", {"edge.enabled": False})
    assert [e.name for e in load_environments(["staging"], directory=folder)] == ["staging"]


def test_a_name_prefix_or_a_state_bucket_may_repeat_across_projects(tmp_path: Path) -> None:
    """Names made from the prefix are unique within a project, and one bucket may hold several
    states under different prefixes."""
    folder = copy_environments(tmp_path)
    dev = yaml.safe_load((folder / "dev.yaml").read_text())
    edit(
        folder / "staging.yaml",
        {"name_prefix": dev["name_prefix"], "state.bucket": dev["state"]["bucket"]},
    )
    assert len(load_environments(directory=folder)) == 3


def test_one_wrong_file_stops_the_others_too(tmp_path: Path) -> None:
    """Another environment's file cannot be compared unless it is valid."""
    folder = copy_environments(tmp_path)
    edit(folder / "prod.yaml", {"redis.tier": "huge"})
    (line,) = refusals(folder, ["dev"])
    assert line.startswith(f"{folder}/prod.yaml: redis.tier: must be one of")


def run_infra(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_synth_and_get_of_the_copy_alone_refuse_and_write_nothing(tmp_path: Path) -> None:
    folder = copy_environments(tmp_path)
    copied_as_qa(folder, {"name_prefix": "agents-qa"})
    synth = run_infra(tmp_path, "synth", "--env", "qa")
    assert synth.returncode == 1
    assert [line.split(": ")[:2] for line in synth.stderr.splitlines()] == [
        ["environments/qa.yaml", field]
        for field in ("project_id", "project_number", "state.prefix")
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environments"]
    # What make bootstrap, build and deploy read a project and a bucket with.
    got = run_infra(tmp_path, "get", "qa", "project_id")
    assert got.returncode == 1 and got.stdout == ""
    assert got.stderr.startswith("environments/qa.yaml: project_id: must differ")


def test_make_synth_env_qa_refuses_the_copy(tmp_path: Path) -> None:
    """The case as a user meets it, through the Makefile."""
    for name in ("Makefile", "pyproject.toml", "cdktf.json"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("make", "requirements", "infra", "app"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    copied_as_qa(copy_environments(tmp_path), {"name_prefix": "agents-qa"})
    for stamp in ("app-stamp", "venv-stamp"):
        (tmp_path / stamp).touch()
    done = make(
        "synth",
        "ENV=qa",
        f"PY={sys.executable}",
        f"APP_STAMP={tmp_path / 'app-stamp'}",
        f"STAMP={tmp_path / 'venv-stamp'}",
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "environments/qa.yaml: project_id: must differ from environment 'dev'" in done.stderr
    assert not (tmp_path / "cdktf.out").exists()
