"""`make build` and `make deploy`: the exact gcloud commands, checked with `make -n`.

The image base and the service names are held to the synthesized stacks, so a change in how
infra/stack.py names the repository or the services cannot leave the deploy pointing elsewhere.
Git runs against a small repository of the test's own (GIT_DIR), so the tree's state is known.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_binary
from tests.infra.conftest import ENV_NAMES, REPO, resources

GIT = ("git", "-c", "user.email=test@example.com", "-c", "user.name=test")


def make(*args: str, git_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"ENV", "IMAGE_TAG", "MAKEFLAGS"}}
    if git_dir is not None:
        env.update(GIT_DIR=str(git_dir / ".git"), GIT_WORK_TREE=str(git_dir))
    return subprocess.run(
        [require_binary("make"), "--no-print-directory", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def gcloud_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("gcloud ")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout whose image inputs are committed."""
    require_binary("git")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "api.py").write_text("app = None\n")
    (tmp_path / "README.md").write_text("notes\n")
    subprocess.run([*GIT, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*GIT, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*GIT, "commit", "-qm", "init"], cwd=tmp_path, check=True)
    return tmp_path


def short_sha(repo: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
    )
    return done.stdout.strip()


def target(synthesized: Any, env_name: str) -> tuple[str, str, str, dict[str, str]]:
    """project, region, image_base and service names by role, from the synthesized stack."""
    tf, config = synthesized.stacks[env_name], synthesized.envs[env_name].config
    names = {
        s["name"].rsplit("-", 1)[-1]: s["name"]
        for s in resources(tf, "google_cloud_run_v2_service").values()
    }
    return config.project_id, config.region, tf["output"]["image_base"]["value"], names


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_build_submits_the_commit_image_to_the_environment_repository(
    env_name: str, synthesized: Any, repo: Path
) -> None:
    project, region, image_base, _ = target(synthesized, env_name)
    done = make("-n", "build", f"ENV={env_name}", git_dir=repo)
    assert done.returncode == 0, done.stderr
    assert gcloud_lines(done) == [
        f"gcloud builds submit --tag={image_base}/app:{short_sha(repo)}"
        f" --ignore-file=.dockerignore --region={region} --project={project} ."
    ]


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_deploy_rolls_the_image_out_to_the_worker_then_the_api(
    env_name: str, synthesized: Any, repo: Path
) -> None:
    project, region, image_base, names = target(synthesized, env_name)
    image = f"{image_base}/app:{short_sha(repo)}"
    done = make("-n", "deploy", f"ENV={env_name}", git_dir=repo)
    assert done.returncode == 0, done.stderr
    where = f"--region={region} --project={project}"
    assert gcloud_lines(done) == [
        f"gcloud artifacts docker images describe {image} --project={project} >/dev/null \\",
        f"gcloud run services update {names['worker']} --image={image} {where}",
        f"gcloud run services update {names['api']} --image={image} {where}",
    ]
    assert f"image {image} not found: run make build ENV={env_name} first" in done.stdout


def test_a_build_from_uncommitted_image_inputs_is_refused(repo: Path) -> None:
    (repo / "app" / "api.py").write_text("app = 'changed'\n")
    done = make("-n", "build", "ENV=dev", git_dir=repo)
    assert done.returncode != 0
    assert "uncommitted changes in Dockerfile .dockerignore requirements/app.txt container app" in (
        done.stderr
    )
    assert gcloud_lines(done) == []


def test_changes_outside_the_image_do_not_block_a_build(repo: Path) -> None:
    (repo / "README.md").write_text("more notes\n")
    (repo / "scratch.txt").write_text("untracked\n")
    done = make("-n", "build", "ENV=dev", git_dir=repo)
    assert done.returncode == 0, done.stderr
    assert len(gcloud_lines(done)) == 1


def test_a_named_tag_builds_and_deploys_that_image_whatever_the_tree(
    repo: Path, synthesized: Any
) -> None:
    image_base = target(synthesized, "staging")[2]
    (repo / "app" / "api.py").write_text("app = 'changed'\n")
    for goal in ("build", "deploy"):
        done = make("-n", goal, "ENV=staging", "IMAGE_TAG=release-7", git_dir=repo)
        assert done.returncode == 0, done.stderr
        images = {m for line in gcloud_lines(done) for m in re.findall(r"\S+/app:\S+", line)}
        assert {i.removeprefix("--tag=").removeprefix("--image=") for i in images} == {
            f"{image_base}/app:release-7"
        }


@pytest.mark.parametrize("goal", ["build", "deploy"])
def test_an_unknown_environment_fails_with_the_list(goal: str) -> None:
    done = make("-n", goal, "ENV=qa")
    assert done.returncode != 0
    assert "unknown ENV 'qa': environments are dev prod staging" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("goal", ["build", "deploy"])
def test_build_and_deploy_need_an_environment(goal: str) -> None:
    done = make("-n", goal)
    assert done.returncode != 0
    assert f"ENV is required for `make {goal}`" in done.stderr
    assert "dev prod staging" in done.stderr
    assert done.stdout == ""


def test_help_lists_build_and_deploy() -> None:
    done = make("help")
    targets = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("  make ")}
    assert {"build", "deploy"} <= targets


COMMANDS = (("builds", "submit"), ("run", "services", "update"), ("artifacts", "docker", "images"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_every_gcloud_flag_used_exists_in_the_installed_gcloud(repo: Path, tmp_path: Path) -> None:
    gcloud = require_binary("gcloud")
    lines = gcloud_lines(make("-n", "build", "ENV=dev", git_dir=repo))
    lines += gcloud_lines(make("-n", "deploy", "ENV=dev", git_dir=repo))
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    checked = 0
    for line in lines:
        words = line.split()[1:]
        (command,) = [c for c in COMMANDS if tuple(words[: len(c)]) == c]
        if command[0] == "artifacts":
            command = (*command, words[3])
        help_text = subprocess.run(
            [gcloud, *command, "--help"], env=env, capture_output=True, text=True, check=True
        ).stdout
        help_text = ANSI.sub("", help_text)
        for flag in re.findall(r"(--[a-z-]+)=?", line):
            assert re.search(rf"{flag}\b", help_text), f"gcloud {' '.join(command)}: {flag}"
            checked += 1
    assert checked >= 9
