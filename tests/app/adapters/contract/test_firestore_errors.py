"""Firestore failures reach the agents as Unavailable, never as a client library error."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from app.adapters import firestore_tx
from app.adapters.firestore_store import FirestoreStore
from app.config.settings import Settings, SettingsError
from app.domain.errors import Unavailable
from app.ports.store import NewMessage
from tests.app.adapters.contract.builders import START, inquiry, session, turn
from tests.support.servers import free_port


@pytest.fixture
def unreachable(monkeypatch):
    """A store whose emulator address has nothing listening."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    store = FirestoreStore(firestore.Client(project="demo-down"), call_timeout=1.0)
    yield store
    store.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_session(session()),
        lambda s: s.get_session("s1", START),
        lambda s: s.latest_messages("s1", 50),
        lambda s: s.get_turn_state("s1", "session:s1", "k", START),
        lambda s: s.append_turn(turn()),
        lambda s: s.append_once("s1", NewMessage("system", "x"), "k", START),
        lambda s: s.create_inquiry(inquiry(), None),
        lambda s: s.claim_inquiry("i1", "h", START, START),
        lambda s: s.unpublished_inquiries(START, 10),
        lambda s: s.erase_customer("C001"),
    ],
    ids=[
        "create",
        "get",
        "page",
        "turn-state",
        "turn",
        "once",
        "inquiry",
        "claim",
        "sweep",
        "erase",
    ],
)
def test_a_store_that_does_not_answer_is_unavailable(unreachable, call):
    with pytest.raises(Unavailable) as caught:
        call(unreachable)
    assert caught.value.status == 503


def test_ping_reports_a_store_that_does_not_answer(unreachable):
    assert unreachable.ping() is False


@pytest.mark.integration
def test_contention_that_outlasts_the_retries_is_unavailable_with_retry_after(firestore_store):
    runs = []

    def always_contended(transaction):
        runs.append(1)
        raise gexc.Aborted("Too much contention on these documents")

    with pytest.raises(Unavailable) as caught:
        firestore_tx.run_transaction(firestore_store.client, always_contended)
    assert caught.value.retry_after == firestore_tx.CONTENTION_RETRY_AFTER
    assert len(runs) == firestore_tx.RUNS


@pytest.mark.integration
def test_the_store_answers_on_the_emulator(firestore_store):
    assert firestore_store.ping() is True


def test_the_project_is_required():
    settings = Settings.from_env({}, state_backend="firestore")
    with pytest.raises(SettingsError, match="GOOGLE_CLOUD_PROJECT"):
        FirestoreStore.from_settings(settings)
