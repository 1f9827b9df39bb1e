"""`make run`: the api and the worker under gunicorn on this machine, two processes as on Cloud Run.

api on http://127.0.0.1:$PORT (default 8080), worker on http://127.0.0.1:$WORKER_PORT (default
8081), data under $DATA_DIR (default .local/). Ctrl-C (SIGINT) or SIGTERM stops both
gracefully; if either dies, the other is stopped too and the exit code is non-zero.

In a terminal each JSON log line is shown as a short readable one (devtools/log_view.py);
`RUN_LOGS=json` shows them as the app writes them, as it does when the output is not a terminal.

Callers sign in with the api's local token issuer (AUTH_MODE=local unless the environment says
otherwise): `POST /dev/token` or `make token CUSTOMER=C001` gives a token, which the runner
says once both processes are up.

A port that is taken stops the runner before either gunicorn starts, with one line naming the
port and the variable to set (gunicorn itself would retry and repeat its error for seconds).

The children run in their own process group, so a Ctrl-C reaches only this runner, which then
asks each gunicorn for a graceful stop (SIGTERM) and waits for both. Should the runner itself be
killed, Linux sends each gunicorn SIGTERM (PR_SET_PDEATHSIG), so none is left running.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools.log_view import chosen_format, relay

HOST = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 15  # gunicorn's graceful timeout (8 s) plus start-up slack
READY_TIMEOUT_SECONDS = 60
ROLES = {"api": ("PORT", 8080), "worker": ("WORKER_PORT", 8081)}
PR_SET_PDEATHSIG = 1


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SystemExit(f"{name}: must be a port number between 1 and 65535, got {raw!r}")
    return int(raw)


def _bind_error(port: int) -> OSError | None:
    """Why HOST:port cannot be bound now, or None. Bound as gunicorn binds it (SO_REUSEADDR),
    so a port that a stopped run left in TIME_WAIT counts as free, as it is for gunicorn."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            return error
    return None


def _free_port_after(port: int, avoid: set[int]) -> int | None:
    """The first port above `port` that can be bound now, for the message to suggest."""
    for candidate in range(port + 1, min(port + 100, 65535) + 1):
        if candidate not in avoid and _bind_error(candidate) is None:
            return candidate
    return None


def check_ports(ports: Mapping[str, int]) -> None:
    """SystemExit naming each port of `ports` (role -> port) that cannot be bound, and the
    variable that moves it; nothing has started yet, so nothing is left to stop."""
    problems = []
    for role, port in ports.items():
        error = _bind_error(port)
        if error is None:
            continue
        name = ROLES[role][0]
        if error.errno != errno.EADDRINUSE:
            problems.append(f"{name} {port} ({role}) cannot be bound on {HOST}: {error.strerror}")
            continue
        suggestion = _free_port_after(port, set(ports.values()))
        example = f", e.g. make run {name}={suggestion}" if suggestion else ""
        problems.append(
            f"{name} {port} ({role}) is taken on {HOST}: set {name} to a free port{example}"
        )
    if problems:
        raise SystemExit("\n".join(problems))


def _gunicorn(
    role: str, port: int, data_dir: str, environ: Mapping[str, str], readable: bool
) -> subprocess.Popen[str]:
    """One role's gunicorn; with `readable`, its stdout is a pipe for the log view."""
    env = {**environ, "AGENT_ROLE": role, "PORT": str(port), "DATA_DIR": data_dir}
    env.setdefault("AUTH_MODE", "local")  # no cloud account here: the api's own issuer
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:app.gunicorn_conf",
        "--bind",
        f"{HOST}:{port}",
        f"app.{role}:app",
    ]
    pipe: dict[str, Any] = {"stdout": subprocess.PIPE, "encoding": "utf-8", "errors": "replace"}
    process = subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
        **(pipe if readable else {}),
    )
    return process


def _die_with_parent() -> None:
    """On Linux, have the kernel send SIGTERM to a child whose runner was killed (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux/glibc: the runner's own stop still applies
        pass


def _wait_ready(url: str, process: subprocess.Popen[str], deadline: float) -> bool:
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(processes: Mapping[str, subprocess.Popen[str]]) -> dict[str, int]:
    """SIGTERM to each gunicorn (graceful), SIGKILL to any still alive after the timeout."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    codes: dict[str, int] = {}
    for role, process in processes.items():
        try:
            codes[role] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{role} did not stop in {STOP_TIMEOUT_SECONDS}s; killing it", file=sys.stderr)
            os.killpg(process.pid, signal.SIGKILL)
            codes[role] = process.wait()
    return codes


def _sign_in_hint(environ: Mapping[str, str], api_port: int) -> str:
    """How to get a token, when the api runs its local issuer."""
    if environ.get("AUTH_MODE", "local").strip().lower() != "local":
        return ""
    return (
        "token   TOKEN=$(make -s token CUSTOMER=C001)   (customers C001-C008, STAFF=S001),\n"
        f"        or: curl -s -X POST http://{HOST}:{api_port}/dev/token"
        """ -H 'content-type: application/json' -d '{"customer_id": "C001"}'\n"""
        '        then: -H "authorization: Bearer $TOKEN"\n'
    )


class _StopRequested(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    data_dir = environ.get("DATA_DIR", "").strip() or ".local"
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    ports = {role: _port(environ, name, default) for role, (name, default) in ROLES.items()}
    if ports["api"] == ports["worker"]:
        raise SystemExit(f"PORT and WORKER_PORT: must differ, both are {ports['api']}")
    check_ports(ports)
    readable = chosen_format(environ, sys.stdout.isatty()) == "text"

    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    processes: dict[str, subprocess.Popen[str]] = {}
    relays = []  # the log view's threads, joined at the end so the last lines are shown
    try:
        for role, port in ports.items():
            processes[role] = _gunicorn(role, port, data_dir, environ, readable)
            stdout = processes[role].stdout
            if stdout is not None:
                relays.append(relay(stdout, role, sys.stdout))
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for role, port in ports.items():
            if not _wait_ready(f"http://{HOST}:{port}/healthz", processes[role], deadline):
                print(f"{role} did not become healthy; stopping", file=sys.stderr)
                _stop(processes)
                return 1
        print(
            f"api     http://{HOST}:{ports['api']}  (OpenAPI: /openapi.json)\n"
            f"worker  http://{HOST}:{ports['worker']}\n"
            f"data    {Path(data_dir).resolve()}\n"
            f"{_sign_in_hint(environ, ports['api'])}"
            "Ctrl-C stops both.",
            flush=True,
        )
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        died = [role for role, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(died)} exited; stopping the rest", file=sys.stderr)
        _stop(processes)
        return 1
    except _StopRequested as stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(f"{stop}: stopping api and worker", file=sys.stderr, flush=True)
        codes = _stop(processes)
        failed = {role: code for role, code in codes.items() if code != 0}
        if failed:
            print(f"unclean exit: {failed}", file=sys.stderr)
            return 1
        print("stopped", file=sys.stderr)
        return 0
    finally:
        for thread in relays:
            thread.join(timeout=2)  # their gunicorn has exited: the pipe is at its end


if __name__ == "__main__":
    sys.exit(main())
