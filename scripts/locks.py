"""The dependency locks in requirements/: made from pyproject.toml, and checked against it.

Why: pyproject.toml pins the direct dependencies only; what they depend on would float, and a
new release of any of them could reach the image or the tests unseen. Each set of
dependencies therefore has a lock, a requirements file pinning every package it needs, direct
or not, with the sha256 of each of its files:

- requirements/app.txt: `[project].dependencies`, the app at run time (the image installs it);
- requirements/eval.txt: the `eval` extra, what `make eval` adds (`make run` installs it too);
- requirements/infra.txt: the `infra` extra, the CDK and the stand-in provider;
- requirements/dev.txt: the `dev` extra, the test and lint tools.

The sets are resolved together first, so a package that two sets share has one version in
every lock; each lock then holds its set's whole closure at those versions, and installs with
`pip install --require-hashes --no-deps`. The locks are for what CI and the image run:
CPython 3.11 on Linux x86_64.

    python scripts/locks.py check                  # `make lint`: offline, a few milliseconds
    python scripts/locks.py compile [-P NAME ...]  # `make lock`: resolves on PyPI with uv

`compile` keeps every version already locked that still fits, so a change of one pin in
pyproject.toml changes only what must follow; `-P NAME` lets uv move NAME to its newest
release that fits (`make lock UPGRADE=NAME`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK_DIR = "requirements"
# set name -> (where pyproject.toml lists it, its lock's one-line description)
SETS = {
    "app": ("[project].dependencies", "the app at run time (the image installs it)"),
    "eval": ("the eval extra", "what `make eval` adds to the app"),
    "infra": ("the infra extra", "the CDK and the stand-in provider"),
    "dev": ("the dev extra", "the test and lint tools"),
}
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
# --only-binary: a locked version has a wheel for the target, so no install ever builds one
# (a build would fetch its build tools unhashed). Markers are kept for pip to evaluate: some
# packages are only needed below a patch release (async-timeout below 3.11.3).
UV_TARGET = [
    "--no-config",
    "--python-version",
    PYTHON_VERSION,
    "--python-platform",
    PLATFORM,
    "--only-binary",
    ":all:",
]
REGENERATE = (
    "Run `make lock` to regenerate requirements/*.txt, and commit them with pyproject.toml."
)
FINGERPRINT = re.compile(r"^# pyproject-sha256: ([0-9a-f]{64})$", re.MULTILINE)
REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?\s*"
    r"(?:==\s*(?P<version>[^\s;,]+))?\s*(?P<rest>.*)$"
)


class LockError(Exception):
    """pyproject.toml or a lock is not what the other says; the message says what to do."""


def canonical(name: str) -> str:
    """PEP 503's form of a package name: `PyJWT` and `pyjwt` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One direct requirement of pyproject.toml: `name==version`."""

    name: str
    version: str
    text: str


def read_sets(pyproject: Path) -> dict[str, list[str]]:
    """Each set's requirement strings; an extra that names this project's extras gets theirs."""
    with pyproject.open("rb") as handle:
        project = tomllib.load(handle).get("project", {})
    own = canonical(project.get("name", ""))
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    listed = {"app": project.get("dependencies"), **{s: extras.get(s) for s in SETS if s != "app"}}
    for name, requirements in listed.items():
        if not isinstance(requirements, list) or not requirements:
            raise LockError(f"{pyproject.name}: {SETS[name][0]} must be a non-empty list")

    def expand(requirements: list[str], seen: frozenset[str]) -> list[str]:
        found: list[str] = []
        for text in requirements:
            match = REQUIREMENT.match(text.strip())
            if match and canonical(match["name"]) == own:
                for extra in (e.strip() for e in (match["extras"] or "").split(",")):
                    if extra and extra not in seen:
                        found += expand(extras.get(extra, []), seen | {extra})
            else:
                found.append(" ".join(text.split()))
        return found

    return {name: expand(reqs, frozenset({name})) for name, reqs in listed.items()}


def pins(pyproject: Path, sets: dict[str, list[str]]) -> dict[str, list[Pin]]:
    """Each set's direct requirements; each must pin one version with `==`."""
    found: dict[str, list[Pin]] = {}
    for name, requirements in sets.items():
        parsed = [(text, REQUIREMENT.match(text)) for text in requirements]
        loose = [text for text, m in parsed if not m or not m["version"] or "," in text]
        if loose:
            raise LockError(
                f"{pyproject.name}: {SETS[name][0]} must pin each version with ==, got {loose}"
            )
        found[name] = [Pin(canonical(m["name"]), m["version"], t) for t, m in parsed if m]
    return found


def fingerprint(sets: dict[str, list[str]]) -> str:
    """What a lock was made from: every set's requirements and the target, in one digest.

    Every lock carries the same one, because the sets are resolved together: a change to
    one set's list can move a package that another set shares.
    """
    inputs = {
        "sets": {name: sorted(reqs) for name, reqs in sorted(sets.items())},
        "target": UV_TARGET,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def locked(text: str) -> dict[str, tuple[str, int]]:
    """A lock's packages: canonical name -> (version, number of hashes)."""
    found: dict[str, tuple[str, int]] = {}
    current = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            match = REQUIREMENT.match(line)
            if not match or not match["version"]:
                raise LockError(f"not a pinned requirement: {line!r}")
            current = canonical(match["name"])
            found[current] = (match["version"], 0)
        elif "--hash=" in line and current:
            version, hashes = found[current]
            found[current] = (version, hashes + line.count("--hash="))
    return found


def problems(repo: Path) -> list[str]:
    """Why the locks in `repo` do not match its pyproject.toml; empty when they do."""
    pyproject = repo / "pyproject.toml"
    try:
        sets = read_sets(pyproject)
        direct = pins(pyproject, sets)
    except LockError as error:
        return [str(error)]
    digest = fingerprint(sets)
    found: list[str] = []
    versions: dict[str, tuple[str, str]] = {}
    for name in SETS:
        path = f"{LOCK_DIR}/{name}.txt"
        if not (repo / path).is_file():
            found.append(f"{path} is missing ({SETS[name][0]} of pyproject.toml)")
            continue
        text = (repo / path).read_text()
        try:
            packages = locked(text)
        except LockError as error:
            found.append(f"{path}: {error}")
            continue
        stale = [
            f"{pin.text} in pyproject.toml, "
            + (f"{pin.name}=={packages[pin.name][0]}" if pin.name in packages else "absent")
            + " in the lock"
            for pin in direct[name]
            if packages.get(pin.name, ("",))[0] != pin.version
        ]
        if stale:
            found.append(f"{path} is stale against pyproject.toml: {'; '.join(stale)}")
        elif (m := FINGERPRINT.search(text)) is None or m[1] != digest:
            found.append(
                f"{path} is stale against pyproject.toml: a list of dependencies there changed"
                " since the lock was made"
            )
        found += [
            f"{path}: {pkg}=={ver} has no --hash" for pkg, (ver, n) in packages.items() if not n
        ]
        for package, (version, _) in packages.items():
            other = versions.setdefault(package, (version, path))
            if other[0] != version:
                found.append(f"{path} pins {package}=={version}, {other[1]} pins {other[0]}")
    return found


def check(repo: Path) -> int:
    """`make lint`'s check: print each problem and what to run; 1 when there is one."""
    found = problems(repo)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(REGENERATE, file=sys.stderr)
    return 1 if found else 0


def uv(*args: str, cwd: Path) -> None:
    """Run the venv's uv (the dev extra pins it) in the scratch folder `cwd`."""
    binary = Path(sys.executable).with_name("uv")
    command = str(binary) if binary.is_file() else shutil.which("uv")
    if command is None:
        raise LockError("uv not found: `make venv` installs it (the dev extra pins it)")
    done = subprocess.run(
        [command, "pip", "compile", "--quiet", *args], cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise LockError(f"uv pip compile {' '.join(args)} failed:\n{done.stderr.strip()}")


def header(name: str, digest: str) -> str:
    where, what = SETS[name]
    return (
        f"# {LOCK_DIR}/{name}.txt, made by `make lock` from pyproject.toml; do not edit by hand.\n"
        f"# {where}: {what}.\n"
        f"# Every package they need, pinned with each file's sha256, for CPython {PYTHON_VERSION}"
        " on Linux x86_64.\n"
        f"# pyproject-sha256: {digest}\n"
    )


def tidy(text: str, name: str) -> str:
    """uv's `# via` notes name the scratch files: say pyproject.toml, drop the constraints."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("# via "):
            indent, _, sources = line.partition("# via ")
            kept = [
                "pyproject.toml" if s == f"-r {name}.in" else s
                for s in sources.split(", ")
                if not s.startswith("-c ")
            ]
            line = f"{indent}# via {', '.join(kept)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def compile_locks(repo: Path, upgrade: Sequence[str] = ()) -> list[Path]:
    """Resolve the sets together, then write each set's closure at those versions."""
    pyproject = repo / "pyproject.toml"
    sets = read_sets(pyproject)
    pins(pyproject, sets)
    digest = fingerprint(sets)
    (repo / LOCK_DIR).mkdir(exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "all.in").write_text("".join(f"{r}\n" for reqs in sets.values() for r in reqs))
        # The versions locked now are uv's preferences: it moves only what it must.
        joint = work / "joint.txt"
        joint.write_text(
            "".join(
                f"{package}=={version}\n"
                for name in SETS
                if (repo / LOCK_DIR / f"{name}.txt").is_file()
                for package, (version, _) in locked(
                    (repo / LOCK_DIR / f"{name}.txt").read_text()
                ).items()
            )
        )
        upgrades = [arg for package in upgrade for arg in ("--upgrade-package", package)]
        uv(*UV_TARGET, *upgrades, "--no-header", "--no-annotate", "all.in", "-o", "joint.txt",
           cwd=work)  # fmt: skip
        for name, requirements in sets.items():
            (work / f"{name}.in").write_text("".join(f"{r}\n" for r in requirements))
            uv(
                *UV_TARGET,
                "--generate-hashes",
                "--no-strip-markers",
                "--no-header",
                "--annotation-style",
                "line",
                "--constraints",
                "joint.txt",
                f"{name}.in",
                "-o",
                f"{name}.txt",
                cwd=work,
            )
            path = repo / LOCK_DIR / f"{name}.txt"
            path.write_text(header(name, digest) + tidy((work / f"{name}.txt").read_text(), name))
            written.append(path)
    return written


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="fail when a lock is stale against pyproject.toml")
    make = commands.add_parser("compile", help="resolve the locks on PyPI (needs uv)")
    make.add_argument(
        "-P", "--upgrade-package", action="append", default=[], metavar="NAME",
        help="let NAME move to its newest release that fits (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return check(REPO)
        for path in compile_locks(REPO, args.upgrade_package):
            print(f"wrote {path.relative_to(REPO)}")
    except LockError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
