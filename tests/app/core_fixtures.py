"""Fixtures for the core (non-HTTP) tests; the HTTP tests own conftest.py.

A test module loads them with `pytest_plugins = ["tests.app.core_fixtures"]` and imports
helpers from `core_support`, never from here (a plugin imported first cannot be rewritten).
"""

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
