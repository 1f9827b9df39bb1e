"""`make run`'s runner end to end: two gunicorns, a conversation, an inquiry, a clean Ctrl-C.

The runner is started as `make run` starts it (python -m devtools.run_local) on free ports with a
temporary DATA_DIR, with the real services. The waits below are limits for a slow machine,
not timing assertions.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import require, require_binary
from tests.support.servers import FIRESTORE_EMULATOR, PUBSUB_EMULATOR, free_port
from tests.support.sse import SseClient

REPO = Path(__file__).resolve().parents[2]
START_LIMIT_SECONDS = 90
INQUIRY_LIMIT_SECONDS = 90
STOP_LIMIT_SECONDS = 30


def call(
    method: str, url: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (gunicorn masters and their workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_output(path: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while text not in path.read_text():
        assert process.poll() is None, f"runner exited early:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"runner did not start:\n{path.read_text()}"
        time.sleep(0.2)


def start_runner(module: str, tmp_path: Path, **env: str) -> tuple[subprocess.Popen, int, int]:
    """`python -m module` on free ports, its output in tmp_path/runner.out and runner.err."""
    api_port, worker_port = free_port(), free_port()
    environ = {
        **os.environ,
        "PORT": str(api_port),
        "WORKER_PORT": str(worker_port),
        "DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    out, err = tmp_path / "runner.out", tmp_path / "runner.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", module], cwd=REPO, env=environ, stdout=stdout, stderr=stderr
        )
    return process, api_port, worker_port


def make_token(tmp_path: Path, *who: str) -> str:
    """What `make token` runs, on the runner's DATA_DIR."""
    environ = {**os.environ, "DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "devtools.dev_token", *who],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(params=["devtools.run_local", "devtools.run_emulators"], ids=["local", "emulators"])
def runner(request, tmp_path):
    """`make run` (BACKEND=local) and `make run BACKEND=emulators` started as the user would."""
    if request.param == "devtools.run_emulators":
        require(FIRESTORE_EMULATOR.exists() and PUBSUB_EMULATOR.exists(), "no Google emulators")
        require_binary("redis-server")
    process, api_port, worker_port = start_runner(request.param, tmp_path, LOG_LEVEL="warning")
    out = tmp_path / "runner.out"
    started: set[int] = set()
    try:
        wait_for_output(out, "Ctrl-C stops both", process)
        started = descendants(process.pid)
        yield process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{worker_port}", started
    finally:
        for pid in started | descendants(process.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait()


def test_conversation_and_inquiry_then_ctrl_c_stops_both(runner, tmp_path):
    process, api, worker, children = runner
    assert len(children) >= 4, "expected two gunicorn masters, each with a worker"
    assert call("GET", f"{worker}/healthz")[2]["role"] == "worker"

    assert "make -s token CUSTOMER=C001" in (tmp_path / "runner.out").read_text()
    assert call("POST", f"{api}/v1/sessions", {})[0] == 401
    # `make token` signs with the key the running api made in the same DATA_DIR.
    token = make_token(tmp_path, "--customer", "C004")
    status, headers, session = call("POST", f"{api}/v1/sessions", {}, token)
    assert status == 201 and headers["Location"] == f"/v1/sessions/{session['id']}"
    status, _, turn = call(
        "POST",
        f"{api}/v1/sessions/{session['id']}/messages",
        {"text": "Where is my order A1020?"},
        token,
    )
    assert status == 200, turn
    assert turn["route"] == "session"
    assert "A1020" in turn["reply"]["text"]

    # POST /dev/token, as the README shows it, works just the same.
    issued = call("POST", f"{api}/dev/token", {"customer_id": "C004"})[2]
    status, headers, inquiry = call(
        "POST",
        f"{api}/v1/inquiries",
        {"kind": "refund_review", "details": {"order_id": "A1007"}, "session_id": session["id"]},
        issued["token"],
    )
    assert status == 202, inquiry
    location = api + headers["Location"]
    deadline = time.monotonic() + INQUIRY_LIMIT_SECONDS
    while inquiry["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"inquiry still {inquiry['status']}"
        time.sleep(0.3)
        inquiry = call("GET", location, token=token)[2]
    assert inquiry["status"] == "succeeded", inquiry
    assert inquiry["result"]

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_LIMIT_SECONDS) == 0, (tmp_path / "runner.err").read_text()
    survivors = [pid for pid in children if alive(pid)]
    assert survivors == [], [Path(f"/proc/{pid}/stat").read_text()[:200] for pid in survivors]
    assert "stopped" in (tmp_path / "runner.err").read_text()


def test_an_inquiry_result_reaches_an_open_stream_within_two_seconds(runner, tmp_path):
    """The worker (another process) appends the result; the api's stream has it within 2 s:
    by its 1 s poll on SQLite (`make run`), by Redis pub/sub with the emulators."""
    _, api, _, _ = runner
    token = make_token(tmp_path, "--customer", "C004")
    session = call("POST", f"{api}/v1/sessions", {}, token)[2]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{api}/v1/sessions/{session['id']}/events"
    with SseClient(url, auth, timeout=INQUIRY_LIMIT_SECONDS) as stream:
        assert stream.status == 200
        assert stream.next().retry == 1000
        body = {"kind": "refund_review", "details": {"order_id": "A1007"}}
        status, _, inquiry = call(
            "POST", f"{api}/v1/inquiries", {**body, "session_id": session["id"]}, token
        )
        assert status == 202, inquiry
        (event,) = stream.messages(1)
        arrived = datetime.now(UTC)
    result = event.json
    assert (result["role"], result["route"]) == ("system", "inquiry")
    assert inquiry["id"] in json.dumps(result["data"])
    appended = datetime.fromisoformat(result["created_at"])
    assert (arrived - appended).total_seconds() < 2, "the issue's promise: within two seconds"


def test_killing_the_runner_leaves_no_gunicorn_behind(runner):
    process, _, _, children = runner
    process.kill()
    process.wait()
    deadline = time.monotonic() + STOP_LIMIT_SECONDS
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in children if alive(pid)]
    assert survivors == [], [Path(f"/proc/{pid}/stat").read_text()[:200] for pid in survivors]


def test_in_text_mode_the_runner_shows_each_log_line_readable(tmp_path):
    """RUN_LOGS=text, the default at a terminal: no JSON line reaches the screen, and the last
    lines the gunicorns write while stopping are still shown."""
    process, api_port, _ = start_runner("devtools.run_local", tmp_path, RUN_LOGS="text")
    out, err = tmp_path / "runner.out", tmp_path / "runner.err"
    try:
        wait_for_output(out, "Ctrl-C stops both", process)
        assert call("GET", f"http://127.0.0.1:{api_port}/healthz")[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_LIMIT_SECONDS) == 0, err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = out.read_text().splitlines()
    assert [line for line in lines if line.startswith("{")] == []
    stamp = r"\d\d:\d\d:\d\d"
    assert any(
        re.fullmatch(rf"{stamp} api    INFO    GET /healthz 200 [\d.]+ ms", x) for x in lines
    )
    assert any(re.fullmatch(rf"{stamp} worker INFO    Shutting down: Master", x) for x in lines)
