"""Idempotency records: the first answer is kept, replayed while live, replaced once expired."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.ports.store import DuplicateKey
from tests.app.adapters.contract.builders import START, inquiry, record


def test_a_record_is_answered_until_it_expires(store):
    store.create_inquiry(inquiry(), record())
    assert store.get_idempotency("inquiries", "k", START) == record()
    assert store.get_idempotency("inquiries", "k", START + timedelta(hours=24)) is None
    assert store.get_idempotency("inquiries", "other", START) is None
    assert store.get_idempotency("session:s1", "k", START) is None  # keys live in a scope


def test_a_reused_key_is_refused_with_the_first_record(store):
    store.create_inquiry(inquiry(), record())
    second = replace(record(), fingerprint="fp-2", response={"inquiry_id": "i2"})
    with pytest.raises(DuplicateKey) as caught:
        store.create_inquiry(inquiry("i2"), second)
    assert caught.value.record == record()
    assert store.get_inquiry("i2") is None


def test_an_expired_key_can_be_used_again(store):
    store.create_inquiry(inquiry(), record())
    day_later = START + timedelta(hours=25)
    renewed = record(created_at=day_later, expires_at=day_later + timedelta(hours=24))
    store.create_inquiry(inquiry("i2"), replace(renewed, response={"inquiry_id": "i2"}))
    assert store.get_idempotency("inquiries", "k", day_later).response == {"inquiry_id": "i2"}


def test_keys_with_any_visible_character_are_kept_apart(store):
    store.create_inquiry(inquiry("i1"), record("a/b"))
    store.create_inquiry(inquiry("i2"), record("a/b/", response={"inquiry_id": "i2"}))
    assert store.get_idempotency("inquiries", "a/b", START).response == {"inquiry_id": "i1"}
    assert store.get_idempotency("inquiries", "a/b/", START).response == {"inquiry_id": "i2"}
