"""The app as `make run` starts it (api and worker under gunicorn, local mode, SQLite), on free
ports in a folder of its own, for the browser tests and `make screenshots`."""

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config.settings import Settings
from devtools.run_emulators import free_port, http_answers
from tests.support.servers import BIND_ATTEMPTS, PortTaken, port_was_taken

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60
STOP_TIMEOUT = 30
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]


class AppDidNotStart(RuntimeError):
    pass


@dataclass(frozen=True)
class RunningApp:
    """The app under test: its URLs and a way to call its API as a customer or staff member."""

    url: str
    worker_url: str
    data_dir: Path

    def token(self, *, customer_id: str | None = None, staff_id: str | None = None) -> str:
        body = {"customer_id": customer_id} if customer_id else {"staff_id": staff_id}
        return self.call("POST", "/dev/token", body)["token"]

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> dict[str, Any]:
        """One JSON request to the api; the parsed answer (HTTPError on an error status)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else {}

    def status_of(self, method: str, path: str, token: str | None = None) -> int:
        """The status of one request (an error status too)."""
        try:
            self.call(method, path, token=token)
        except urllib.error.HTTPError as error:
            return error.code
        return 200


def app_environ(
    data_dir: Path, api_port: int, worker_port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This shell's environment without any of the app's settings, plus the run's (local mode
    unless `extra` says otherwise)."""
    ours = set(Settings.variable_names())
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in ours and not name.endswith("_EMULATOR_HOST")
    }
    environ.update(
        PYTHONPATH=str(REPO),
        DATA_DIR=str(data_dir),
        PORT=str(api_port),
        WORKER_PORT=str(worker_port),
        AUTH_MODE="local",
        RUN_LOGS="json",
        LOG_LEVEL="warning",
        # Quick heartbeats: a dropped stream is noticed sooner (the pages do not depend on it).
        LIVE_HEARTBEAT_SECONDS="2",
    )
    environ.update(extra or {})
    return environ


@contextlib.contextmanager
def running_app(folder: Path, extra: Mapping[str, str] | None = None) -> Iterator[RunningApp]:
    """`python -m devtools.run_local` on free ports with its data and log in `folder`; `extra`
    settings override the local ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, BIND_ATTEMPTS + 1):
        runner, app = _start(folder, extra)
        try:
            _wait_until_ready(runner, app, folder / "run_local.log")
            break
        except PortTaken:
            _stop(runner)
            if attempt == BIND_ATTEMPTS:
                raise AppDidNotStart("the app's ports were taken on every attempt") from None
        except BaseException:
            _stop(runner)
            raise
    try:
        yield app
    finally:
        _stop(runner)


def _start(folder: Path, extra: Mapping[str, str] | None) -> tuple[subprocess.Popen, RunningApp]:
    data_dir = folder / "data"
    api_port = free_port()
    worker_port = free_port()
    while worker_port == api_port:
        worker_port = free_port()
    with (folder / "run_local.log").open("w") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "devtools.run_local"],
            cwd=REPO,
            env=app_environ(data_dir, api_port, worker_port, extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    app = RunningApp(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{worker_port}", data_dir)
    return runner, app


def _wait_until_ready(runner: subprocess.Popen, app: RunningApp, log: Path) -> None:
    """Both roles answer /healthz; PortTaken when a port went to another process first."""
    deadline = time.monotonic() + START_TIMEOUT
    ready = [http_answers(f"{app.url}/healthz"), http_answers(f"{app.worker_url}/healthz")]
    while not all(probe() for probe in ready):
        if runner.poll() is not None or time.monotonic() > deadline:
            output = log.read_text()
            if port_was_taken(output):
                raise PortTaken(output[-500:])
            raise AppDidNotStart(f"the app did not start: {output[-3000:]}")
        time.sleep(0.2)


def _stop(runner: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        runner.send_signal(signal.SIGTERM)  # the runner stops both gunicorns gracefully
    try:
        runner.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
