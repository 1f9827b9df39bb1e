"""Real backing servers for integration tests: the Google emulators and redis-server.

Each starts on a free loopback port, is waited on until it answers, and is stopped (with its
child processes) when the context exits. A port is free when chosen but may be taken (by any
process's outgoing connection) before the server binds it: a server that exits because its
port is in use is started again on another one. A missing binary skips the test, or fails it under
CI=true, through `tests.conftest.require`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from devtools.run_emulators import free_port, http_answers, tcp_answers
from tests.conftest import require

SDK_PLATFORM = Path("/usr/lib/google-cloud-sdk/platform")
FIRESTORE_EMULATOR = SDK_PLATFORM / "cloud-firestore-emulator" / "cloud_firestore_emulator"
PUBSUB_EMULATOR = SDK_PLATFORM / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"


BIND_ATTEMPTS = 3
_PORT_TAKEN = (
    "Address already in use",
    "Could not create server TCP listening socket",
    "Connection in use",  # gunicorn's words
    ") is taken on 127.0.0.1",  # devtools.run_local's
)


def port_was_taken(output: str) -> bool:
    """Whether a server's output says it could not bind because its port was taken."""
    return any(marker in output for marker in _PORT_TAKEN)


class PortTaken(RuntimeError):
    """The server exited because another process took its port first."""


@contextlib.contextmanager
def _on_free_port(
    start: Callable[[int], contextlib.AbstractContextManager[subprocess.Popen]],
) -> Iterator[int]:
    """Run `start(port)` on a free port, on another one when that port was taken meanwhile."""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        port = free_port()
        try:
            with start(port):
                yield port
            return
        except PortTaken:
            if attempt == BIND_ATTEMPTS:
                raise


@contextlib.contextmanager
def _process(
    argv: list[str], ready: Callable[[], bool], name: str, log: Path, timeout: float = 60
) -> Iterator[subprocess.Popen]:
    """Start `argv` in its own process group, wait for `ready`, stop the group afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                output = log.read_text()
                failure = PortTaken if port_was_taken(output) else RuntimeError
                raise failure(f"{name} exited with {process.returncode}: {output[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not answer within {timeout}s: {log.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def firestore_emulator(workdir: Path, project: str = "demo-agents") -> Iterator[str]:
    """Yields the emulator's host:port (the value of FIRESTORE_EMULATOR_HOST)."""
    require(FIRESTORE_EMULATOR.exists(), f"the Firestore emulator is not at {FIRESTORE_EMULATOR}")
    require(shutil.which("java") is not None, "java (for the Firestore emulator) is not installed")

    def start(port: int) -> contextlib.AbstractContextManager[subprocess.Popen]:
        argv = [str(FIRESTORE_EMULATOR), "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--project_id", project]
        ready = http_answers(f"http://127.0.0.1:{port}/")
        return _process(argv, ready, "firestore emulator", workdir / "firestore.log")

    with _on_free_port(start) as port:
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def pubsub_emulator(workdir: Path) -> Iterator[str]:
    """Yields the emulator's host:port (the value of PUBSUB_EMULATOR_HOST)."""
    require(PUBSUB_EMULATOR.exists(), f"the Pub/Sub emulator is not at {PUBSUB_EMULATOR}")
    require(shutil.which("java") is not None, "java (for the Pub/Sub emulator) is not installed")

    def start(port: int) -> contextlib.AbstractContextManager[subprocess.Popen]:
        argv = [str(PUBSUB_EMULATOR), "--host=127.0.0.1", f"--port={port}"]
        ready = http_answers(f"http://127.0.0.1:{port}/")
        return _process(argv, ready, "pubsub emulator", workdir / "pubsub.log")

    with _on_free_port(start) as port:
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def redis_server(workdir: Path, password: str = "test-auth") -> Iterator[tuple[int, str]]:
    """Yields (port, password) of a throwaway redis-server with AUTH on and no persistence."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed (apt-get install redis-server)")

    def start(port: int) -> contextlib.AbstractContextManager[subprocess.Popen]:
        argv = [binary or "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--requirepass", password, "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(workdir)]
        return _process(argv, tcp_answers(port), "redis-server", workdir / "redis.log", timeout=20)

    with _on_free_port(start) as port:
        yield port, password
