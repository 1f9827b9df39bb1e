"""Sessions persist in the SQLite file, expire after SESSION_TTL_SECONDS and survive restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.errors import InvalidInput, NotFound
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
    found, messages = services.sessions.get(session.id, customer_id="C001")
    assert len(messages) == 2
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
    assert services.store.list_messages(old.id) == []
    assert services.sessions.get(young.id, customer_id="C002")[0].customer_id == "C002"
    services.close()


def test_sessions_survive_a_new_store_on_the_same_file(tmp_path):
    clock = FakeClock()
    first = make_services(tmp_path, clock)
    session = first.sessions.create("C002", {"language": "en"})
    first.conversation.post_message(session.id, "Where is my order?", customer_id="C002")
    first.close()

    second = make_services(tmp_path, clock)
    found, messages = second.sessions.get(session.id, customer_id="C002")
    assert found.preferences == {"language": "en"}
    assert [m.role for m in messages] == ["customer", "agent"]
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
