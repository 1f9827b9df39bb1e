"""Sessions persist in the SQLite file, expire after SESSION_TTL_SECONDS (and SESSION_MAX_AGE
after they began), hold at most SESSION_MAX_MESSAGES, page back by opaque cursors and survive
restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.agents.sessions import cursor_before, seq_of_cursor
from app.config.settings import Settings, SettingsError
from app.domain.errors import InvalidInput, NotFound
from app.ports.store import SessionFull
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import START, FakeClock, make_services


def test_a_session_expires_after_its_ttl(tmp_path):
    clock = FakeClock()
    services = make_services(tmp_path, clock, session_ttl_seconds=600)
    session = services.sessions.create("C001", {})
    clock.advance(599)
    assert services.sessions.get(session.id, customer_id="C001")[0].id == session.id
    clock.advance(1)
    with pytest.raises(NotFound):
        services.sessions.get(session.id, customer_id="C001")
    with pytest.raises(NotFound):
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    services.close()


def test_each_turn_extends_the_session(tmp_path):
    clock = FakeClock()
    services = make_services(tmp_path, clock, session_ttl_seconds=600)
    session = services.sessions.create("C001", {})
    clock.advance(500)
    services.conversation.post_message(session.id, "hello", customer_id="C001")
    clock.advance(500)  # 1000 s after creation, 500 s after the last turn
    found, page = services.sessions.get(session.id, customer_id="C001")
    assert len(page.messages) == 2
    assert found.expires_at == START + timedelta(seconds=500 + 600)
    clock.advance(100)
    with pytest.raises(NotFound):
        services.sessions.get(session.id, customer_id="C001")
    services.close()


def test_expired_sessions_are_purged(tmp_path):
    clock = FakeClock()
    services = make_services(tmp_path, clock, session_ttl_seconds=600)
    old = services.sessions.create("C001", {})
    services.conversation.post_message(old.id, "hello", customer_id="C001")
    clock.advance(601)
    young = services.sessions.create("C002", {})
    assert services.store.purge_expired(clock.now()) >= 1
    assert all_messages(services.store, old.id) == []
    assert services.sessions.get(young.id, customer_id="C002")[0].customer_id == "C002"
    services.close()


def test_sessions_survive_a_new_store_on_the_same_file(tmp_path):
    clock = FakeClock()
    first = make_services(tmp_path, clock)
    session = first.sessions.create("C002", {"language": "en"})
    first.conversation.post_message(session.id, "Where is my order?", customer_id="C002")
    first.close()

    second = make_services(tmp_path, clock)
    found, page = second.sessions.get(session.id, customer_id="C002")
    assert found.preferences == {"language": "en"}
    assert [m.role for m in page.messages] == ["customer", "agent"]
    # The flow state survived too: the next turn answers the question it asked.
    reply = second.conversation.post_message(session.id, "A1004", customer_id="C002")
    assert reply.reply.text.startswith("Order A1004 is being packed")
    second.close()


def test_unknown_and_malformed_session_ids_are_not_found(tmp_path):
    services = make_services(tmp_path)
    for session_id in ("0" * 32, "", "x" * 500, None):
        with pytest.raises(NotFound):
            services.sessions.get(session_id, customer_id="C001")
    services.close()


@pytest.mark.parametrize(
    ("customer_id", "preferences", "field"),
    [
        ("", {}, "customer_id"),
        ("has space", {}, "customer_id"),
        ("x" * 129, {}, "customer_id"),
        (42, {}, "customer_id"),
        ("C001", ["not", "an", "object"], "preferences"),
        ("C001", {"big": "x" * 5000}, "preferences"),
        ("C001", {"bad": {1, 2}}, "preferences"),
    ],
)
def test_bad_session_input_names_the_field_and_stores_nothing(
    tmp_path, customer_id, preferences, field
):
    services = make_services(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        services.sessions.create(customer_id, preferences)
    assert caught.value.field == field
    with services.store.db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    services.close()


def test_a_session_ends_its_max_age_after_it_began_however_active(tmp_path):
    clock = FakeClock()
    services = make_services(tmp_path, clock, session_ttl_seconds=600, session_max_age=1500)
    session = services.sessions.create("C001", {})
    for _ in range(2):
        clock.advance(500)
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    found, _ = services.sessions.get(session.id, customer_id="C001")
    assert found.expires_at == START + timedelta(seconds=1500)  # not 1000 + 600
    clock.advance(499)
    services.conversation.post_message(session.id, "hello", customer_id="C001")
    clock.advance(1)  # 1500 s after it began, 1 s after its last turn
    with pytest.raises(NotFound):
        services.sessions.get(session.id, customer_id="C001")
    with pytest.raises(NotFound):
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    services.close()


def test_a_full_session_refuses_a_turn_with_409_and_says_to_start_a_new_one(tmp_path):
    services = make_services(tmp_path, session_max_messages=4)
    session = services.sessions.create("C001", {})
    for _ in range(2):
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    asked = []
    services.conversation.model.understand = lambda text: asked.append(text)  # never reached
    with pytest.raises(SessionFull) as refused:
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    assert refused.value.status == 409
    assert "start a new session" in refused.value.detail and asked == []
    assert services.sessions.get(session.id, customer_id="C001")[0].message_count == 4
    services.close()


def test_the_store_refuses_a_turn_that_raced_past_the_most_messages(tmp_path):
    """Two turns read a session with room for one: the store's check stops the second."""
    services = make_services(tmp_path, session_max_messages=2)
    session = services.sessions.create("C001", {})
    stale = services.sessions.require(session.id, "C001")
    services.conversation.post_message(session.id, "hello", customer_id="C001")
    services.sessions.require = lambda session_id, customer_id: stale  # as read before
    with pytest.raises(SessionFull):
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    assert len(all_messages(services.store, session.id)) == 2
    services.close()


def test_a_session_shows_its_latest_messages_and_pages_back_to_the_first(tmp_path):
    services = make_services(tmp_path)
    session = services.sessions.create("C001", {})
    for n in range(30):  # 60 messages
        services.conversation.post_message(session.id, f"hello {n}", customer_id="C001")
    _, page = services.sessions.get(session.id, customer_id="C001")
    assert [m.seq for m in page.messages] == list(range(11, 61))
    seen = page.messages
    while page.older is not None:
        page = services.sessions.messages(session.id, page.older, "7", customer_id="C001")
        assert len(page.messages) <= 7
        seen = page.messages + seen
    assert [m.seq for m in seen] == list(range(1, 61))
    assert seen[0].text == "hello 0"
    latest = services.sessions.messages(session.id, None, None, customer_id="C001")
    assert [m.seq for m in latest.messages] == list(range(11, 61))  # 50 by default
    services.close()


@pytest.mark.parametrize(
    ("before", "limit", "field"),
    [
        ("not a cursor!", None, "before"),
        ("", None, "before"),
        ("c2VxOg", None, "before"),  # "seq:" with no number
        ("c2VxOjA", None, "before"),  # seq 0
        ("eDo1", None, "before"),  # "x:5"
        ("A" * 65, None, "before"),
        (None, "0", "limit"),
        (None, "101", "limit"),
        (None, "ten", "limit"),
        (None, "-1", "limit"),
        (None, True, "limit"),
    ],
)
def test_a_page_request_that_is_not_one_names_the_field(tmp_path, before, limit, field):
    services = make_services(tmp_path)
    session = services.sessions.create("C001", {})
    with pytest.raises(InvalidInput) as caught:
        services.sessions.messages(session.id, before, limit, customer_id="C001")
    assert caught.value.field == field
    services.close()


def test_a_cursor_names_a_seq_and_another_customers_session_is_not_found(tmp_path):
    services = make_services(tmp_path)
    session = services.sessions.create("C001", {})
    for _ in range(3):
        services.conversation.post_message(session.id, "hello", customer_id="C001")
    cursor = cursor_before(4)
    assert seq_of_cursor(cursor) == 4
    page = services.sessions.messages(session.id, cursor, 2, customer_id="C001")
    assert [m.seq for m in page.messages] == [2, 3]
    assert seq_of_cursor(page.older) == 2
    with pytest.raises(NotFound):
        services.sessions.messages(session.id, cursor, 2, customer_id="C002")
    services.close()


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("SESSION_MAX_MESSAGES", "1"),
        ("SESSION_MAX_MESSAGES", "many"),
        ("SESSION_MAX_MESSAGES", "100001"),
        ("SESSION_MAX_AGE", "59"),
        ("SESSION_MAX_AGE", "30d"),
    ],
)
def test_session_bounds_out_of_range_are_refused_naming_the_variable(variable, raw):
    with pytest.raises(SettingsError, match=rf"^{variable}: must be"):
        Settings.from_env({variable: raw})


def test_session_bounds_default_to_1000_messages_and_30_days():
    settings = Settings.from_env({})
    assert (settings.session_max_messages, settings.session_max_age) == (1000, 30 * 86400)
    read = Settings.from_env({"SESSION_MAX_MESSAGES": "200", "SESSION_MAX_AGE": "3600"})
    assert (read.session_max_messages, read.session_max_age) == (200, 3600)
