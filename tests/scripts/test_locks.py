"""scripts/locks.py and requirements/*.txt: the locks match pyproject.toml, and say so loudly
when they do not.

Why: `make lint` (and so CI) runs the check, so a pin changed in pyproject.toml without
`make lock` fails before any test or image; the message names the lock and the command. The
locks are also held to what they promise: every package pinned and hashed, one version per
package across the sets, and the venv `make` built holds exactly those versions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from scripts.locks import REGENERATE, SETS, locked, problems, tidy

REPO = Path(__file__).resolve().parents[2]
LOCKS = [REPO / "requirements" / f"{name}.txt" for name in SETS]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """pyproject.toml, the locks and the script, in a scratch folder to change freely."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "requirements", tmp_path / "requirements")
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "locks.py", tmp_path / "scripts" / "locks.py")
    return tmp_path


def check(folder: Path) -> subprocess.CompletedProcess[str]:
    """`make lint`'s command, run in `folder`."""
    return subprocess.run(
        [sys.executable, "scripts/locks.py", "check"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_locks_are_up_to_date_with_pyproject() -> None:
    assert problems(REPO) == []
    done = check(REPO)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_changed_pin_names_the_stale_lock_and_make_lock(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"Flask==3.1.3"', '"Flask==3.1.4"')
    done = check(copy)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "requirements/app.txt is stale against pyproject.toml:"
        " Flask==3.1.4 in pyproject.toml, flask==3.1.3 in the lock"
    )
    # the other sets were resolved with the old Flask too: each is named, then the command
    assert [line.split()[0] for line in lines[1:-1]] == [
        f"requirements/{name}.txt" for name in SETS if name != "app"
    ]
    assert lines[-1] == REGENERATE


def test_a_new_dependency_of_an_extra_is_missing_from_its_lock(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"ruff==0.17.6",', '"ruff==0.17.6", "tomli-w==1.2.0",')
    done = check(copy)
    assert done.returncode == 1
    assert (
        "requirements/dev.txt is stale against pyproject.toml:"
        " tomli-w==1.2.0 in pyproject.toml, absent in the lock"
    ) in done.stderr.splitlines()


def test_a_removed_dependency_makes_every_lock_stale(copy: Path) -> None:
    """The sets are resolved together: dropping one can move a package that another shares."""
    edit(copy / "pyproject.toml", '    "redis==8.1.0",\n', "")
    done = check(copy)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[:-1] == [
        f"requirements/{name}.txt is stale against pyproject.toml: a list of dependencies there"
        " changed since the lock was made"
        for name in SETS
    ]
    assert lines[-1] == REGENERATE and "make lock" in REGENERATE


def test_an_unpinned_dependency_fails_the_check(copy: Path) -> None:
    edit(copy / "pyproject.toml", '"redis==8.1.0"', '"redis>=5"')
    done = check(copy)
    assert done.returncode == 1
    assert "[project].dependencies must pin each version with ==" in done.stderr
    assert "redis>=5" in done.stderr


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("\nflask==3.1.3 \\", "\nflask==3.1.2 \\", "Flask==3.1.3 in pyproject.toml, flask==3.1.2"),
        ("\nflask==3.1.3 \\", "\nunhashed==1.0\nflask==3.1.3 \\", "unhashed==1.0 has no --hash"),
    ],
)
def test_a_hand_edited_lock_fails_the_check(copy: Path, old: str, new: str, says: str) -> None:
    edit(copy / "requirements" / "app.txt", old, new)
    done = check(copy)
    assert done.returncode == 1 and says in done.stderr


def test_a_package_has_one_version_across_the_locks(copy: Path) -> None:
    dev = copy / "requirements" / "dev.txt"
    (version,) = [line for line in dev.read_text().splitlines() if line.startswith("urllib3==")]
    edit(dev, version, "urllib3==1.0.0 \\")
    assert "requirements/dev.txt pins urllib3==1.0.0, requirements/app.txt pins" in "\n".join(
        problems(copy)
    )


def test_a_missing_lock_is_named(copy: Path) -> None:
    (copy / "requirements" / "eval.txt").unlink()
    assert problems(copy) == ["requirements/eval.txt is missing (the eval extra of pyproject.toml)"]


def test_every_set_is_locked_whole_with_hashes_for_cpython_311_on_linux() -> None:
    for path in LOCKS:
        text = path.read_text()
        assert "for CPython 3.11 on Linux x86_64" in text.split("\n", 4)[2], path
        packages = locked(text)
        assert packages and all(hashes for _, hashes in packages.values()), path
    app, eval_, infra, dev = (set(locked(p.read_text())) for p in LOCKS)
    assert eval_ == {"pyyaml"}
    # the closure of each set, not only the packages the other sets lack
    assert {"pydantic", "protobuf", "grpcio", "pyyaml"} <= infra and "pydantic" in app
    assert {"pytest", "ruff", "uv", "pre-commit", "playwright"} <= dev
    assert not {"cdktn", "pytest", "pyyaml"} & app


def test_uv_notes_name_pyproject_and_not_the_scratch_files() -> None:
    uv_output = (
        "flask==3.1.3 \\\n    --hash=sha256:ab\n    # via -c joint.txt, -r app.in\n"
        "werkzeug==3.1.9 \\\n    --hash=sha256:cd\n    # via -c joint.txt, flask\n"
    )
    assert tidy(uv_output, "app").splitlines()[2::3] == [
        "    # via pyproject.toml",
        "    # via flask",
    ]
    notes = [line for path in LOCKS for line in path.read_text().splitlines() if "# via" in line]
    assert notes and not [note for note in notes if "-c " in note or "-r " in note]


def test_the_venv_holds_the_locked_versions() -> None:
    """`make` installed from the locks: each locked package this interpreter needs is there,
    at the locked version (a package installed by other means is not looked at)."""
    wrong = []
    for path in LOCKS:
        for line in path.read_text().splitlines():
            if not line or line[0] in "# ":
                continue
            requirement = Requirement(line.rstrip(" \\"))
            if requirement.marker and not requirement.marker.evaluate():
                continue
            (spec,) = requirement.specifier
            try:
                installed = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                installed = "absent"
            if installed == "absent" or Version(installed) != Version(spec.version):
                wrong.append(f"{requirement.name}: {installed}, locked {spec.version}")
    assert wrong == [], "run make venv"


def test_the_venv_is_consistent() -> None:
    """The stamps install with --no-deps: what a locked package needs must be locked too."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout
