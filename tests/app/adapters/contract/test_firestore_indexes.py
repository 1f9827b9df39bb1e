"""The Firestore adapter's queries are served by the indexes the stack declares for the app.

The stack (infra/stack.py) gives the storage module the app's TTL policy and composite indexes
from infra/app_storage.py: these tests hold them against the queries the adapter runs.
"""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from app.adapters.firestore_layout import (
    COMPOSITE_QUERIES,
    INQUIRIES_BY_CUSTOMER,
    MESSAGES,
    ORDER_CLAIMS,
    RECORDS_BY_SCOPE,
    SESSIONS_BY_CUSTOMER,
    SINGLE_FIELD_QUERIES,
    TTL_COLLECTIONS,
    TTL_FIELD,
    UNPUBLISHED_INQUIRIES,
)
from app.adapters.firestore_store import FirestoreStore
from infra import app_storage  # imports the provider bindings: a few seconds, once
from tests.app.adapters.contract.builders import START


def declared(name: str):
    """A setting of the TTL policy the stack gives the app's database."""
    return getattr(app_storage.APP_TTL_POLICY, name)


@pytest.mark.parametrize("query", COMPOSITE_QUERIES, ids=lambda q: q.name)
def test_every_composite_query_has_exactly_its_index(query):
    matching = [
        index
        for index in app_storage.APP_INDEXES
        if index.collection == query.collection
        and index.query_scope == "COLLECTION"
        and tuple(index.fields) == query.index_fields()
    ]
    assert len(matching) == 1, f"{query.name} needs {query.index_fields()} on {query.collection}"


def test_every_declared_index_serves_a_query():
    """An index no query uses only slows every write of its collection."""
    used = {(q.collection, q.index_fields()) for q in COMPOSITE_QUERIES}
    for index in app_storage.APP_INDEXES:
        assert (index.collection, tuple(index.fields)) in used, f"unused index {index}"


def test_single_field_queries_need_no_composite_index_and_avoid_the_ttl_field():
    assert declared("field") == TTL_FIELD
    assert declared("field_indexed") is False  # so no query may filter or order on it
    assert all(field != TTL_FIELD for _, field in SINGLE_FIELD_QUERIES)
    assert all(TTL_FIELD not in q.equals and q.order_by[0] != TTL_FIELD for q in COMPOSITE_QUERIES)


def test_every_collection_the_adapter_writes_has_a_ttl_policy():
    assert set(TTL_COLLECTIONS) <= set(declared("collections"))


def test_order_claims_are_under_no_ttl_policy():
    """Claims are order records, kept by law: no TTL policy may delete them."""
    assert ORDER_CLAIMS not in TTL_COLLECTIONS
    assert ORDER_CLAIMS not in declared("collections")


def test_the_sweep_runs_the_query_its_shape_declares():
    client = firestore.Client(project="demo-offline", credentials=AnonymousCredentials())
    store = FirestoreStore(client)
    query = store._composite(UNPUBLISHED_INQUIRIES, {"status": "queued"}, "<", START)
    built = query._to_protobuf()
    filters = built.where.composite_filter.filters
    assert [f.field_filter.field.field_path for f in filters] == ["status", "updated_at"]
    assert [o.field.field_path for o in built.order_by] == ["updated_at"]
    assert built.from_[0].collection_id == UNPUBLISHED_INQUIRIES.collection
    store.close()


def test_an_erasure_runs_only_equality_queries_on_registered_single_fields(monkeypatch):
    """Each is served by an automatic single-field index: no index to declare, none missing."""
    client = firestore.Client(project="demo-offline", credentials=AnonymousCredentials())
    store = FirestoreStore(client)
    ran = []

    def references(query):
        built = query.select(["__name__"])._to_protobuf()
        ran.append(built)
        return [store._session("s1")] if built.from_[0].collection_id == "sessions" else []

    monkeypatch.setattr(store, "_references", references)
    monkeypatch.setattr(store, "_delete_all", lambda refs: None)
    store.erase_customer("C001")
    filtered = [q for q in ran if "where" in q]
    assert {q.from_[0].collection_id for q in ran if "where" not in q} == {MESSAGES}  # listings
    shapes = {(q.from_[0].collection_id, q.where.field_filter.field.field_path) for q in filtered}
    assert shapes == {SESSIONS_BY_CUSTOMER, INQUIRIES_BY_CUSTOMER, RECORDS_BY_SCOPE}
    assert shapes <= set(SINGLE_FIELD_QUERIES)
    assert all(q.where.field_filter.op.name == "EQUAL" and not q.order_by for q in filtered)
    store.close()
