"""Processes the benchmarks start: timed fresh interpreters, gunicorn servers, peak memory.

Peak memory is the kernel's high-water mark of resident memory: `ru_maxrss` from `wait4` for a
process that has exited, `VmHWM` from /proc for one still running (a gunicorn master and its
worker processes, read just before they are stopped).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GUNICORN_CONF = "python:app.gunicorn_conf"  # the production settings, on every server here
START_LIMIT_SECONDS = 60
STOP_LIMIT_SECONDS = 15


@dataclass(frozen=True)
class Finished:
    """A process that ran to its end: wall time, exit code, output, peak RSS in MiB, and the
    monotonic time it was spawned at."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float
    spawned_at: float = 0.0


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_probe(
    argv: list[str], env: Mapping[str, str], limit: float = 120, cwd: Path = REPO
) -> Finished:
    """Run `argv` to completion: wall time from spawn to exit, and its peak RSS from wait4.

    The peak covers the process and the descendants it reaped (the kernel folds a reaped
    child's high-water mark into its parent's), so a synth's Node.js child counts.
    """
    started = time.perf_counter()
    spawned_at = time.monotonic()
    with open(os.devnull, "rb") as stdin:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    deadline = started + limit
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    # Read output without reaping the child (communicate() would call waitpid for us).
    selector = selectors.DefaultSelector()
    assert process.stdout is not None and process.stderr is not None
    selector.register(process.stdout, selectors.EVENT_READ, out_chunks)
    selector.register(process.stderr, selectors.EVENT_READ, err_chunks)
    open_streams = 2
    while open_streams:
        if time.perf_counter() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise RuntimeError(f"{argv[:4]} did not finish within {limit}s")
        for key, _ in selector.select(timeout=1):
            chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if chunk:
                key.data.append(chunk)
            else:
                selector.unregister(key.fileobj)
                open_streams -= 1
    selector.close()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    process.stderr.close()
    return Finished(
        seconds,
        process.returncode,
        b"".join(out_chunks).decode(),
        b"".join(err_chunks).decode(),
        usage.ru_maxrss / 1024,
        spawned_at,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a running process, in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def wait_http(url: str, process: subprocess.Popen, limit: float = START_LIMIT_SECONDS) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {limit}s")


@dataclass
class Server:
    """A running gunicorn: its URL, and its processes' peak memory when it was stopped."""

    url: str
    process: subprocess.Popen
    peaks_mib: dict[str, float] = field(default_factory=dict)

    def sample_peaks(self) -> dict[str, float]:
        """Master and worker-process high-water marks, read while they are alive."""
        peaks = {"master": peak_rss_mib(self.process.pid)}
        workers = children(self.process.pid)
        peaks["worker"] = max((peak_rss_mib(pid) for pid in workers), default=0.0)
        self.peaks_mib = peaks
        return peaks


@contextlib.contextmanager
def gunicorn(
    wsgi: str,
    env: Mapping[str, str],
    log: Path,
    ready_path: str = "/healthz",
    port: int | None = None,
) -> Iterator[Server]:
    """gunicorn with the production config (app/gunicorn_conf.py) on loopback (a free port
    unless `port` is given)."""
    port = port or free_port()
    argv = [PYTHON, "-m", "gunicorn", "--config", GUNICORN_CONF]
    argv += ["--bind", f"127.0.0.1:{port}", wsgi]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env={**env, "PORT": str(port)},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        wait_http(server.url + ready_path, process)
        yield server
    finally:
        if process.poll() is None:
            server.sample_peaks()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_loadgen(config: dict, env: Mapping[str, str], limit: float = 240) -> dict:
    """Run one scenario of `benchmarks.loadgen` in its own process; its JSON result."""
    finished = run_probe(
        [PYTHON, "-m", "benchmarks.loadgen", json.dumps(config)], env=env, limit=limit
    )
    if finished.returncode != 0:
        raise RuntimeError(f"load generator failed: {finished.stderr[-2000:]}")
    result = json.loads(finished.stdout)
    result["peak_rss_mib"] = finished.peak_rss_mib
    return result
