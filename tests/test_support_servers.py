"""The test servers start again on another port when theirs was taken before they bound it."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers


def test_a_server_whose_port_was_taken_starts_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    ports = iter([5001, 5002])
    monkeypatch.setattr(servers, "free_port", lambda: next(ports))
    tried: list[int] = []

    @contextlib.contextmanager
    def start(port: int) -> Iterator[None]:
        tried.append(port)
        if port == 5001:
            raise servers.PortTaken("Address already in use")
        yield

    with servers._on_free_port(start) as port:
        assert port == 5002
    assert tried == [5001, 5002]


def test_it_gives_up_after_a_few_ports_and_never_hides_other_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(servers, "free_port", lambda: 5001)
    attempts: list[int] = []

    @contextlib.contextmanager
    def taken(port: int) -> Iterator[None]:
        attempts.append(port)
        raise servers.PortTaken("Address already in use")
        yield

    with pytest.raises(servers.PortTaken), servers._on_free_port(taken):
        pass
    assert len(attempts) == servers.BIND_ATTEMPTS

    @contextlib.contextmanager
    def broken(port: int) -> Iterator[None]:
        raise RuntimeError("exited with 1")
        yield

    with pytest.raises(RuntimeError, match="exited with 1"), servers._on_free_port(broken):
        pass


@pytest.mark.parametrize(
    ("output", "taken"),
    [
        ("[ERROR] Connection in use: ('127.0.0.1', 5001)", True),  # gunicorn
        ("API_PORT 5001 (api) is taken on 127.0.0.1: set API_PORT to a free port", True),
        ("OSError: [Errno 98] Address already in use", True),
        ("ModuleNotFoundError: No module named 'flask'", False),
    ],
)
def test_what_counts_as_a_taken_port(output: str, taken: bool) -> None:
    assert servers.port_was_taken(output) is taken


def test_a_fault_test_gunicorn_moves_to_another_port_when_its_own_was_taken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.faults import processes

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, servers.free_port()])
        monkeypatch.setattr(processes, "free_port", lambda: next(ports))
        env = processes.app_env(tmp_path / "data", AGENT_ROLE="worker")
        server = processes.Gunicorn("app.worker:app", env, tmp_path / "worker.log")
        with processes.running(server):
            server.start()
            assert server.port != taken
            assert "Connection in use" in (tmp_path / "worker.log").read_text()
