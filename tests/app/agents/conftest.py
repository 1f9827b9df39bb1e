"""Fixtures of the agents' tests: a hand-moved clock, recorded callbacks, and the services built
on them over a fresh data directory (helpers in `tests.app.core_support`)."""

from __future__ import annotations

import pytest

from tests.app.core_support import FakeClock, RecordingCallbacks, make_services


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def callbacks() -> RecordingCallbacks:
    return RecordingCallbacks()


@pytest.fixture
def services(tmp_path, clock, callbacks):
    built = make_services(tmp_path / "data", clock, callbacks)
    yield built
    built.close()
