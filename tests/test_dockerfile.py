"""The container, as far as it can be checked without a Docker engine.

The Dockerfile is parsed and held to what Cloud Run needs; the image's start command
(container/entrypoint.sh) is run for real on this machine from a folder holding only what the
image holds (app/ and container/), served, and stopped with SIGTERM as Cloud Run stops it.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from scripts.locks import canonical
from scripts.locks import locked as lock_entries
from tests.conftest import require

REPO = Path(__file__).resolve().parents[1]
ENTRYPOINT = REPO / "container" / "entrypoint.sh"
APP_LOCK = REPO / "requirements" / "app.txt"
KEYWORDS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip
CLOUD_RUN_GRACE_SECONDS = 10  # between SIGTERM and SIGKILL


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the last instruction ends in a line continuation"
    return result


def stages(parsed: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, each starting with its FROM."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in parsed:
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, args))
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((REPO / "Dockerfile").read_text())


def final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return stages(dockerfile)[-1]


def test_the_dockerfile_parses(dockerfile: list[tuple[str, str]]) -> None:
    assert {keyword for keyword, _ in dockerfile} <= KEYWORDS
    assert dockerfile[0][0] == "FROM"
    names = []
    for keyword, args in dockerfile:
        if keyword == "FROM":
            words = args.split()
            assert len(words) in (1, 3) and (len(words) == 1 or words[1].upper() == "AS"), args
            names.extend(words[2:])
        if keyword == "COPY" and args.startswith("--from="):
            assert args.split()[0].removeprefix("--from=") in names, args
    (entrypoint,) = [json.loads(a) for k, a in final_stage(dockerfile) if k == "ENTRYPOINT"]
    assert isinstance(entrypoint, list) and all(isinstance(w, str) for w in entrypoint)


def test_every_base_image_is_a_pinned_slim_python_311(dockerfile: list[tuple[str, str]]) -> None:
    bases = [args.split()[0] for keyword, args in dockerfile if keyword == "FROM"]
    assert bases
    for base in bases:
        # an exact patch release of the slim variant on a named Debian release, never a moving tag
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base


def test_the_image_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"} and group not in {"root", "0"}
    # the user exists in the image: created with that uid by a RUN of the runtime stage
    runs = " ".join(args for keyword, args in final_stage(dockerfile) if keyword == "RUN")
    assert f"useradd --system --uid {user}" in runs


def test_only_the_runtime_dependencies_are_installed(dockerfile: list[tuple[str, str]]) -> None:
    """The image installs the app's lock, hash-checked: every package pinned, direct or not."""
    installs = [args for keyword, args in dockerfile if keyword == "RUN" and "pip" in args]
    assert len(installs) == 1, installs
    (install,) = installs
    words = shlex.split(install)
    pip = words.index("install")
    assert words[pip - 1] == "/opt/venv/bin/pip"
    assert words[pip + 1 :] == [
        "--no-cache-dir",
        "--require-hashes",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--requirement",
        "requirements.txt",
    ]
    (build_copy,) = [a for k, a in stages(dockerfile)[0] if k == "COPY"]
    assert build_copy.split() == ["requirements/app.txt", "./requirements.txt"]
    # the lock holds every pinned `dependency` at its version, each with its hashes, and
    # neither the CDK (`infra` extra) nor the test tools (`dev` extra)
    with (REPO / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    locked = lock_entries(APP_LOCK.read_text())
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        assert locked[canonical(name)][0] == version, requirement
    assert all(hashes for _, hashes in locked.values())
    extras = {canonical(r.split("==")[0]) for reqs in project["optional-dependencies"].values()
              for r in reqs}  # fmt: skip
    not_in_the_image = {"cdktn", "constructs", "grpcio-tools", "pytest", "ruff", "uv", "pyyaml"}
    assert not_in_the_image <= extras
    assert not not_in_the_image & set(locked)


def test_only_the_app_code_and_the_start_command_are_copied(
    dockerfile: list[tuple[str, str]],
) -> None:
    copies = [
        args.split() for keyword, args in final_stage(dockerfile) if keyword in {"COPY", "ADD"}
    ]
    from_context = sorted(tuple(c[:-1]) for c in copies if not c[0].startswith("--from="))
    assert from_context == [("app/",), ("container/entrypoint.sh",)]
    (from_deps,) = [c for c in copies if c[0].startswith("--from=")]
    assert from_deps[1:] == ["/opt/venv", "/opt/venv"]


def test_the_app_ships_compiled_to_bytecode(
    dockerfile: list[tuple[str, str]], tmp_path: Path
) -> None:
    """Each cold start would compile app/ otherwise (PYTHONDONTWRITEBYTECODE is set): the
    runtime stage compiles it after copying it, and that command leaves a .pyc for every
    module the interpreter will accept without compiling again."""
    stage = final_stage(dockerfile)
    copy_app = next(i for i, (k, a) in enumerate(stage) if k == "COPY" and a.startswith("app/"))
    compiles = [
        (i, a) for i, (k, a) in enumerate(stage) if k == "RUN" and "compileall" in a.split()
    ]
    assert compiles and compiles[0][0] > copy_app, "app/ is not compiled after it is copied"
    workdir = tmp_path / "srv"
    shutil.copytree(REPO / "app", workdir / "app", ignore=shutil.ignore_patterns("__pycache__"))
    words = shlex.split(compiles[0][1])
    subprocess.run([sys.executable, *words[1:]], cwd=workdir, check=True)
    sources = sorted(p.relative_to(workdir) for p in workdir.rglob("*.py"))
    compiled = {
        importlib.util.source_from_cache(str(p)) for p in workdir.rglob("__pycache__/*.pyc")
    }
    missing = [str(s) for s in sources if str(workdir / s) not in compiled]
    assert sources and missing == []


def test_the_entrypoint_is_the_copied_script_run_in_exec_form(
    dockerfile: list[tuple[str, str]],
) -> None:
    stage = final_stage(dockerfile)
    (workdir,) = [a for k, a in stage if k == "WORKDIR"]
    (entrypoint,) = [json.loads(a) for k, a in stage if k == "ENTRYPOINT"]
    copied = {
        str(Path(workdir) / dest): src
        for src, dest in (a.split() for k, a in stage if k == "COPY" and "--from" not in a)
    }
    assert entrypoint[0] == "/bin/sh"
    assert copied[entrypoint[1]] == "container/entrypoint.sh"
    assert not [a for k, a in stage if k == "CMD"], "a CMD would be passed on and run instead"
    env = dict(w.split("=", 1) for k, a in stage if k == "ENV" for w in shlex.split(a))
    # Cloud Run's port by default; local backends write only where a non-root user may
    assert env["PORT"] == "8080" and env["DATA_DIR"].startswith("/tmp/")
    assert env["PATH"].startswith("/opt/venv/bin:")


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """A `python` that records its arguments instead of running anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    fake.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("role", ["api", "worker"])
def test_the_role_picks_an_existing_wsgi_app(role: str, fake_python: Path, tmp_path: Path) -> None:
    args_file = tmp_path / "args"
    env = {"PATH": f"{fake_python}:/usr/bin:/bin", "AGENT_ROLE": role, "ARGS_FILE": str(args_file)}
    subprocess.run(["/bin/sh", str(ENTRYPOINT)], env=env, check=True)
    args = args_file.read_text().split("\n")[:-1]
    assert args == ["-m", "gunicorn", "--config", "python:app.gunicorn_conf", f"app.{role}:app"]
    module, attribute = args[-1].split(":")
    source = REPO / Path(*module.split(".")).with_suffix(".py")
    tree = ast.parse(source.read_text())
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}  # fmt: skip
    assert attribute in assigned, f"{source} defines no {attribute}"
    assert (REPO / "app" / "gunicorn_conf.py").is_file()


@pytest.mark.parametrize("role", ["", "scheduler", "api;reboot"])
def test_a_missing_or_unknown_role_stops_with_the_allowed_ones(
    role: str, fake_python: Path, tmp_path: Path
) -> None:
    args_file = tmp_path / "args"
    env = {"PATH": f"{fake_python}:/usr/bin:/bin", "AGENT_ROLE": role, "ARGS_FILE": str(args_file)}
    done = subprocess.run(["/bin/sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True)
    assert done.returncode == 64
    assert f"AGENT_ROLE: must be one of api, worker, got '{role}'" in done.stderr
    assert not args_file.exists(), "nothing may start without a valid role"


DOCKERIGNORE_REQUIRED = {".venv", "cdktf.out", ".local", "tests", ".git"}
LOCAL_ONLY = (
    ".venv/bin/python",
    "cdktf.out/stacks/dev/cdk.tf.json",
    ".local/agents.db",
    "tests/test_dockerfile.py",
    ".git/HEAD",
    "app/__pycache__/api.cpython-311.pyc",
)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for plain patterns: a path is out if it or a parent folder matches."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            if pattern.startswith("**/"):
                if fnmatch.fnmatchcase(prefix.rsplit("/", 1)[-1], pattern[3:]):
                    return True
            elif fnmatch.fnmatchcase(prefix, pattern):
                return True
    return False


def test_dockerignore_keeps_local_state_out_and_what_the_build_copies_in(
    dockerfile: list[tuple[str, str]],
) -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "exceptions read differently in gcloud"
    assert set(patterns) >= DOCKERIGNORE_REQUIRED
    for path in LOCAL_ONLY:
        assert ignored(path, patterns), path
    sources = [
        word
        for keyword, args in dockerfile
        if keyword == "COPY" and "--from" not in args
        for word in args.split()[:-1]
    ]
    files: list[str] = []
    for source in sources:
        path = REPO / source
        found = [path] if path.is_file() else sorted(path.rglob("*.py"))
        files += [p.relative_to(REPO).as_posix() for p in found]
    assert "app/api.py" in files and "container/entrypoint.sh" in files
    for path in ["Dockerfile", *files]:
        assert (REPO / path).exists() and not ignored(path, patterns), path


# --- the start command, run for real -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_until(check, process: subprocess.Popen, what: str, limit: float = 60) -> None:
    """Poll `check` while the process lives; fail (not hang) if it never holds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited while waiting for {what}"
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {limit} s")


def healthz(port: int, headers: dict[str, str] | None = None) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("role", ["api", "worker"])
def test_the_start_command_serves_and_stops_cleanly_within_the_grace_period(
    role: str, tmp_path: Path
) -> None:
    """What the image runs, from a folder holding only what the image holds.

    The one deadline asserted is Cloud Run's: SIGKILL follows SIGTERM after 10 s.
    """
    require(Path("/proc/self/stat").is_file(), "needs Linux /proc to see gunicorn's processes")
    srv = tmp_path / "srv"
    (srv / "container").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(REPO / "app"), str(srv / "app")], check=True)
    (srv / "container" / "entrypoint.sh").write_bytes(ENTRYPOINT.read_bytes())
    port = free_port()
    venv_bin = Path(sys.executable).parent
    env = {
        "PATH": f"{venv_bin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AGENT_ROLE": role,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        "GOOGLE_CLOUD_PROJECT": "acme-agents-dev",
    }
    out = (tmp_path / "stdout").open("w+")
    err = (tmp_path / "stderr").open("w+")
    process = subprocess.Popen(
        ["/bin/sh", "container/entrypoint.sh"], cwd=srv, env=env, stdout=out, stderr=err
    )
    try:
        wait_until(lambda: healthz(port), process, "/healthz answering 200")
        trace = "0af7651916cd43dd8448eb211c80319c"
        assert healthz(port, {"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
        # exec'd: the process Cloud Run signals is gunicorn itself, no shell in between
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"gunicorn" in cmdline and b"container/entrypoint.sh" not in cmdline
        wait_until(lambda: len(children(process.pid)) == 2, process, "WEB_CONCURRENCY=2 workers")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=CLOUD_RUN_GRACE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out.seek(0)
    err.seek(0)
    stderr = err.read()
    assert code == 0, stderr
    lines = [json.loads(line) for line in out.read().splitlines() if line.strip()]
    assert lines, "no log line on stdout"
    # Cloud Logging parses a stdout line only when it is one JSON object with a severity
    assert all("severity" in entry for entry in lines)
    requests = [
        e for e in lines if e.get("event") == "http.request" and e.get("path") == "/healthz"
    ]
    assert f"projects/acme-agents-dev/traces/{trace}" in {
        e.get("logging.googleapis.com/trace") for e in requests
    }
    assert {e["logging.googleapis.com/labels"].get("role") for e in requests} == {role}
    # the code that served ran from the image's copy of app/, not from the repository
    files = {e["logging.googleapis.com/sourceLocation"]["file"] for e in requests}
    assert all(Path(f).is_relative_to(srv) for f in files), files
    # each worker process closed its backends (gunicorn_conf's worker_exit) before the exit
    closed = [e for e in lines if str(e.get("message", "")).startswith("services closed")]
    assert len(closed) == 2, stderr
