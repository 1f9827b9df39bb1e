"""The test servers start again on another port when theirs was taken before they bound it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
