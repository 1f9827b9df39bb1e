"""`make run BACKEND=emulators`: the app on the Google Cloud code paths, still on this machine.

Starts the Firestore and Pub/Sub emulators (from the Google Cloud SDK) and redis-server on free
loopback ports, creates the topics and subscriptions that `modules/messaging.py` declares
(the push subscription pointing at the local worker, with its dead-letter policy), then runs
the api and the worker as `make run` does, with STATE_BACKEND=firestore, QUEUE_BACKEND=pubsub
and the Redis session cache. Ctrl-C stops the app, then every server started here.

The emulator pushes without a token, so the worker runs with PUSH_AUTH_DISABLED_FOR_EMULATOR
(which the app refuses on Cloud Run). redis-server is optional: without it the app runs
without a cache and says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devtools import run_local

if TYPE_CHECKING:
    from app.adapters.pubsub_topology import Topology

PROJECT = "demo-agents"
PREFIX = "agents-local"
MAX_DELIVERY_ATTEMPTS = 5
START_TIMEOUT_SECONDS = 90
DEFAULT_SDK_ROOT = "/usr/lib/google-cloud-sdk"


class StartFailed(Exception):
    """A server did not start; the message says which and how to fix it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_answers(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                status: int = response.status
                return status < 500
        except OSError:
            return False

    return probe


def tcp_answers(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return probe


# Runs a server under a shell that leads its process group and, when terminated (including by
# the parent-death signal if this runner is killed), terminates the whole group: the SDK
# launchers start java as a grandchild, which a parent-death signal alone would not reach.
GROUP_GUARD = ["/bin/sh", "-c", 'trap "trap - TERM; kill 0" TERM; "$@" & wait $!', "guard"]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM to the server's process group, then wait for all of it, not only the launcher.

    The SDK launchers start java as a child; the launcher exits at once on SIGTERM while java
    is still shutting down, so waiting for the launcher alone would leave java behind.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap the launcher so that it does not linger as a zombie
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def server(name: str, argv: list[str], ready: Callable[[], bool], log: Path) -> Iterator[None]:
    """Run `argv` in its own process group until the block ends; wait until `ready`."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [*GROUP_GUARD, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=run_local._die_with_parent,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready():
            if process.poll() is not None:
                raise StartFailed(f"{name} exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise StartFailed(f"{name} did not answer in {START_TIMEOUT_SECONDS}s; see {log}")
            time.sleep(0.2)
        yield
    finally:
        _stop_group(process)


def _binary(path: Path, what: str, package: str) -> str:
    if not path.exists():
        raise StartFailed(
            f"{what} not found at {path}: install the Debian package {package} "
            "(or set CLOUDSDK_ROOT to your Google Cloud SDK)"
        )
    if shutil.which("java") is None:
        raise StartFailed(f"{what} needs java: install a JRE (e.g. openjdk-17-jre-headless)")
    return str(path)


@contextlib.contextmanager
def emulators(workdir: Path, sdk_root: Path, worker_port: int) -> Iterator[dict[str, str]]:
    """Start everything and yield the environment the app needs to use it."""
    platform = sdk_root / "platform"
    firestore = _binary(
        platform / "cloud-firestore-emulator" / "cloud_firestore_emulator",
        "the Firestore emulator",
        "google-cloud-cli-firestore-emulator",
    )
    pubsub = _binary(
        platform / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator",
        "the Pub/Sub emulator",
        "google-cloud-cli-pubsub-emulator",
    )
    firestore_port, pubsub_port = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            server(
                "Firestore emulator",
                [firestore, "--host", "127.0.0.1", "--port", str(firestore_port)],
                http_answers(f"http://127.0.0.1:{firestore_port}/"),
                workdir / "firestore-emulator.log",
            )
        )
        stack.enter_context(
            server(
                "Pub/Sub emulator",
                [pubsub, "--host=127.0.0.1", f"--port={pubsub_port}"],
                http_answers(f"http://127.0.0.1:{pubsub_port}/"),
                workdir / "pubsub-emulator.log",
            )
        )
        env = {
            "STATE_BACKEND": "firestore",
            "QUEUE_BACKEND": "pubsub",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_port}",
            "PUSH_AUTH_DISABLED_FOR_EMULATOR": "true",
            "MAX_DELIVERY_ATTEMPTS": str(MAX_DELIVERY_ATTEMPTS),
        }
        env.update(_redis(stack, workdir))

        os.environ["PUBSUB_EMULATOR_HOST"] = env["PUBSUB_EMULATOR_HOST"]  # for provisioning
        from app.adapters.pubsub_topology import provision

        names = provision(
            PROJECT,
            PREFIX,
            f"http://127.0.0.1:{worker_port}/pubsub/inquiries",
            max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
        )
        env["INQUIRIES_TOPIC"] = names.inquiries_topic
        env["INQUIRY_EVENTS_TOPIC"] = names.events_topic
        _describe(env, names, workdir)
        yield env


def _redis(stack: contextlib.ExitStack, workdir: Path) -> dict[str, str]:
    """redis-server on a free port with a password, when installed: the app's variables."""
    redis = shutil.which("redis-server")
    if redis is None:
        return {}
    redis_port, password = free_port(), secrets.token_hex(16)
    argv = [redis, "--port", str(redis_port), "--bind", "127.0.0.1"]
    argv += ["--requirepass", password, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir)]
    stack.enter_context(
        server("redis-server", argv, tcp_answers(redis_port), workdir / "redis.log")
    )
    return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port), "REDIS_AUTH": password}


def _describe(env: dict[str, str], names: Topology, workdir: Path) -> None:
    """What runs where, printed once everything answers."""
    print(
        f"firestore emulator  {env['FIRESTORE_EMULATOR_HOST']}  (project {PROJECT})\n"
        f"pubsub emulator     {env['PUBSUB_EMULATOR_HOST']}\n"
        f"  topics            {names.inquiries_topic}\n"
        f"                    {names.events_topic}\n"
        f"                    {names.dead_letter_topic}\n"
        f"  push              {names.push_subscription} -> worker /pubsub/inquiries "
        f"(dead letter after {MAX_DELIVERY_ATTEMPTS} attempts)\n"
        f"  pull              {names.events_subscription}\n"
        f"                    {names.dead_letter_subscription}\n"
        + (
            f"redis-server        127.0.0.1:{env['REDIS_PORT']}  (AUTH on)\n"
            if "REDIS_HOST" in env
            else "redis-server        not installed: running without the session cache\n"
        )
        + f"logs                {workdir}",
        flush=True,
    )


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    data_dir = environ.get("DATA_DIR", "").strip() or ".local"
    workdir = Path(data_dir) / "emulators"
    workdir.mkdir(parents=True, exist_ok=True)
    sdk_root = Path(environ.get("CLOUDSDK_ROOT", "").strip() or DEFAULT_SDK_ROOT)
    worker_port = run_local._port(environ, "WORKER_PORT", run_local.ROLES["worker"][1])

    signal.signal(signal.SIGINT, _raise_stop)  # run_local installs its own once it runs
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with emulators(workdir, sdk_root, worker_port) as env:
            code = run_local.main({**environ, **env, "DATA_DIR": data_dir})
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("stopping the emulators", file=sys.stderr, flush=True)
            return code
    except StartFailed as failed:
        print(f"cannot start: {failed}", file=sys.stderr)
        return 1
    except _Stop as stop:
        print(f"{stop}: stopped before the app started", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
