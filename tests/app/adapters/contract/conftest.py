"""The `store` fixture: every contract test runs once on SQLite and once on Firestore.

The Firestore variant talks to the real emulator, started once per test session; each test
gets a project of its own on it, so no test sees another's documents. Without the emulator
(or java) the Firestore variants skip, and fail under CI=true (`tests.conftest.require`).
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from app.adapters.sqlite_db import Database
from app.adapters.sqlite_store import SqliteStore
from app.config.settings import Settings
from tests.support.servers import firestore_emulator

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("firestore", id="firestore", marks=pytest.mark.integration),
]


@pytest.fixture(scope="session")
def firestore_host(tmp_path_factory):
    """host:port of a Firestore emulator shared by the whole test session."""
    with firestore_emulator(tmp_path_factory.mktemp("firestore-emulator")) as host:
        yield host


@pytest.fixture
def firestore_settings(firestore_host, monkeypatch) -> Settings:
    """Settings for a project of this test's own on the emulator."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    return Settings.from_env(
        {}, state_backend="firestore", google_cloud_project=f"demo-{uuid4().hex[:16]}"
    )


@pytest.fixture
def firestore_store(firestore_settings):
    from app.adapters.firestore_store import FirestoreStore

    store = FirestoreStore.from_settings(firestore_settings)
    yield store
    store.close()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "firestore":
        yield request.getfixturevalue("firestore_store")
        return
    sqlite = SqliteStore(Database(tmp_path / "data"))
    yield sqlite
    sqlite.close()
