"""Real gunicorn processes for the fault tests, and a small JSON client for them.

Each server runs in its own process group (so a test can SIGKILL master and worker process at
once) on a free loopback port, with the production config `app/gunicorn_conf.py`. The waits
are limits for a slow machine, never timing assertions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.servers import BIND_ATTEMPTS, PortTaken, free_port, port_was_taken

REPO = Path(__file__).resolve().parents[2]
START_LIMIT_SECONDS = 60


def call(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, parsed JSON body) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def wait_until(condition: Callable[[], bool], limit: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {limit}s")
        time.sleep(every)


@dataclass
class Gunicorn:
    wsgi: str
    env: dict[str, str]
    log: Path
    port: int = 0
    process: subprocess.Popen | None = None
    _log_start: int = 0  # where this start's output begins in the (appended) log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        """Start on `port`, or on a free port of our choosing (another one if a process took
        it before gunicorn bound it); a restart keeps the port it had."""
        ours = not self.port
        for attempt in range(1, BIND_ATTEMPTS + 1):
            self.port = self.port or free_port()
            self._spawn()
            try:
                wait_until(self._healthy, START_LIMIT_SECONDS, f"{self.wsgi} healthy", every=0.2)
                return self
            except PortTaken:
                if not ours or attempt == BIND_ATTEMPTS:
                    raise
                self.port = 0
        return self

    def _spawn(self) -> None:
        argv = [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"]
        argv += ["--bind", f"127.0.0.1:{self.port}", self.wsgi]
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                env={**self.env, "PORT": str(self.port)},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            output = self.log.read_bytes()[self._log_start :].decode(errors="replace")
            if port_was_taken(output):
                raise PortTaken(f"{self.wsgi}: port {self.port} was taken")
            raise AssertionError(f"{self.wsgi} exited: {output[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL to the master and its worker processes at once: no hook, no cleanup."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def running(*servers: Gunicorn) -> Iterator[tuple[Gunicorn, ...]]:
    """Stop every server on exit (each kept its process group, so nothing is left behind)."""
    try:
        yield servers
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
            if server.process is not None and server.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGKILL)


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(DATA_DIR=str(data_dir), MODEL="rules", PYTHONPATH=str(REPO), LOG_LEVEL="warning")
    env.update(AUTH_MODE="local")  # tokens from tests.support.tokens, on the same DATA_DIR
    env.update(extra)
    return env
