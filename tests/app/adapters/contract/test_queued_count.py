"""`count_queued_inquiries`: housekeeping's count of inquiries nobody is working on.

An inquiry still `queued` long after it was accepted was lost on its way to the worker: its
publish failed and was not redone, or its deliveries never reached the worker. Published or
not, it counts; one that a worker took (`running`) or finished does not.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from app.adapters.firestore_layout import UNPUBLISHED_INQUIRIES, CompositeQuery
from app.adapters.firestore_store import FirestoreStore
from app.ports.store import Store
from tests.app.adapters.contract.builders import START, inquiry

MINUTE = timedelta(minutes=1)


def test_queued_inquiries_older_than_the_bound_are_counted_published_or_not(store: Store) -> None:
    for n in range(5):
        at = START + n * MINUTE
        store.create_inquiry(inquiry(f"i{n}", created_at=at, updated_at=at), None)
    store.mark_published("i1")  # published but never delivered: still lost
    store.claim_inquiry("i2", "worker", START, START + MINUTE)  # running: someone has it
    bound = START + 4 * MINUTE  # i4 is not old enough
    assert store.count_queued_inquiries(bound, 1000) == 3  # i0, i1, i3
    assert store.count_queued_inquiries(bound, 2) == 2  # the cost of a pass stays bounded
    assert store.count_queued_inquiries(START, 1000) == 0


def test_an_empty_store_counts_none(store: Store) -> None:
    assert store.count_queued_inquiries(START + MINUTE, 1000) == 0


def test_firestore_counts_over_the_sweeps_indexed_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """The count must run a query shape the storage module declares an index for (the sweep's),
    or it fails on Firestore with a missing-index error that the emulator never raises."""
    client = firestore.Client(project="demo-offline", credentials=AnonymousCredentials())
    store = FirestoreStore(client)
    shapes: list[CompositeQuery] = []
    original = store._composite

    def recording(shape: CompositeQuery, *args: object) -> object:
        shapes.append(shape)
        query = original(shape, *args)
        built = query._to_protobuf()
        fields = [f.field_filter.field.field_path for f in built.where.composite_filter.filters]
        assert fields == ["status", "updated_at"]
        raise RuntimeError("stop before calling Firestore")

    monkeypatch.setattr(store, "_composite", recording)
    with pytest.raises(RuntimeError, match="stop before"):
        store.count_queued_inquiries(START, 10)
    assert shapes == [UNPUBLISHED_INQUIRIES]
    store.close()
