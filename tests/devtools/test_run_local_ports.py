"""`make run` on a port that is taken: one line naming the port and the variable to set.

Why: the runner used to start both gunicorns anyway, and the one on the taken port repeated
"Connection in use" for seconds before the runner gave up with a message about health checks,
which did not say what to change. The runner is started as `make run` starts it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import run_local
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
EXIT_LIMIT_SECONDS = 30  # a limit for a slow machine; a refusal takes well under a second


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on, as another program would hold 8080."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def run_with(tmp_path: Path, **ports: int) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        **{name: str(port) for name, port in ports.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "devtools.run_local"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=EXIT_LIMIT_SECONDS,
        check=False,
    )


@pytest.mark.parametrize(("variable", "role"), [("PORT", "api"), ("WORKER_PORT", "worker")])
def test_a_taken_port_is_named_once_with_the_variable_to_set(
    tmp_path: Path, taken_port: int, variable: str, role: str
) -> None:
    other = "WORKER_PORT" if variable == "PORT" else "PORT"
    done = run_with(tmp_path, **{variable: taken_port, other: free_port()})
    assert done.returncode != 0
    assert done.stdout == "", "nothing started, so nothing to show"
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"{variable} {taken_port} ({role}) is taken on 127.0.0.1: set {variable} to a free port,"
        f" e.g. make run {variable}="
    ), line
    suggested = int(line.rsplit("=", 1)[1])
    assert suggested != taken_port and run_local._bind_error(suggested) is None


def test_free_ports_pass_and_the_suggestion_is_not_the_other_role_port(taken_port: int) -> None:
    run_local.check_ports({"api": free_port(), "worker": free_port()})  # no SystemExit
    next_port = taken_port + 1
    if run_local._bind_error(next_port) is not None:
        pytest.skip(f"port {next_port} is taken too: the case needs it free")
    with pytest.raises(SystemExit) as refused:
        run_local.check_ports({"api": taken_port, "worker": next_port})
    assert f"PORT {taken_port} (api) is taken" in str(refused.value)
    assert not str(refused.value).endswith(f"PORT={next_port}"), "that is the worker's port"
