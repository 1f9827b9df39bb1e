"""What the app's own code asks of Firestore: RPCs and documents read, counted on the wire.

`RpcCounter` is a gRPC client interceptor. It counts every call by method, unary (Commit,
BeginTransaction, Rollback) and server-streaming (BatchGetDocuments, RunQuery,
RunAggregationQuery) alike, and the documents their responses carry: a document found by a
get, a document a query returns, an aggregation's result (which Firestore bills as one read
per up to 1000 index entries). Documents a get looked up and did not find are counted apart.
Counting on the channel, below the client library, sees what Cloud Firestore would bill and
what each request waits for, whatever the library does above it (retries included).

`counting_client` is a `firestore.Client` for the emulator whose channel goes through a
counter; `FirestoreStore(counting_client(...))` is then the app's store, counted. The
benchmarks (`benchmarks/store_costs.py`) and the tests of these costs
(`tests/app/adapters/contract/test_firestore_costs.py`) both use it.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import firestore


@dataclass(frozen=True)
class Tally:
    """Calls and documents, as counted since a counter started (or between two tallies)."""

    rpcs: int = 0
    reads: int = 0  # documents returned: found by gets, returned by queries, aggregations
    missing: int = 0  # documents a get looked up that do not exist
    by_method: dict[str, int] = field(default_factory=dict)

    def __sub__(self, earlier: Tally) -> Tally:
        methods = Counter(self.by_method)
        methods.subtract(earlier.by_method)
        return Tally(
            self.rpcs - earlier.rpcs,
            self.reads - earlier.reads,
            self.missing - earlier.missing,
            {name: n for name, n in methods.items() if n},
        )

    def describe(self) -> str:
        """`BatchGetDocuments 2, Commit 1` and what was read, for a figure's detail."""
        calls = ", ".join(f"{name} {n}" for name, n in sorted(self.by_method.items()))
        return f"{calls}; {self.reads} documents read, {self.missing} looked up and missing"


def _documents(response: Any) -> tuple[int, int]:
    """(documents carried, documents missing) in one streamed response."""
    message = type(response).pb(response) if hasattr(type(response), "pb") else response
    kind = message.DESCRIPTOR.name
    if kind == "BatchGetDocumentsResponse":
        found = message.HasField("found")
        return int(found), int(not found and message.HasField("missing"))
    if kind == "RunQueryResponse":
        return int(message.HasField("document")), 0
    if kind == "RunAggregationQueryResponse":
        return int(message.HasField("result")), 0
    return 0, 0


class _CountedStream:
    """A streaming call whose responses are counted as the caller reads them; everything else
    (cancel, code, metadata, callbacks) is the call's own."""

    def __init__(self, call: Any, seen: Callable[[Any], None]) -> None:
        self._call = call
        self._seen = seen

    def __iter__(self) -> _CountedStream:
        return self

    def __next__(self) -> Any:
        response = next(self._call)
        self._seen(response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class RpcCounter(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Counts the calls and documents that go through the channel it intercepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: Counter[str] = Counter()
        self._reads = 0
        self._missing = 0

    def tally(self) -> Tally:
        with self._lock:
            methods = dict(self._methods)
            return Tally(sum(methods.values()), self._reads, self._missing, methods)

    def _called(self, method: str) -> None:
        with self._lock:
            self._methods[method.rsplit("/", 1)[-1]] += 1

    def _seen(self, response: Any) -> None:
        found, missing = _documents(response)
        with self._lock:
            self._reads += found
            self._missing += missing

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self._called(details.method)
        return continuation(details, request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        self._called(details.method)
        return _CountedStream(continuation(details, request), self._seen)


class _CountingClient(firestore.Client):
    """The library's emulator channel, intercepted by `counter`."""

    def __init__(self, counter: RpcCounter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counter = counter

    def _emulator_channel(self, transport: Any) -> Any:
        # The library's one place that makes the emulator's channel: wrapping it leaves every
        # option (message sizes, the emulator's token) as the library sets them.
        return grpc.intercept_channel(super()._emulator_channel(transport), self.counter)


def counting_client(project: str, counter: RpcCounter, database: str = "(default)") -> Any:
    """A `firestore.Client` on the emulator (FIRESTORE_EMULATOR_HOST) counted by `counter`."""
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        raise RuntimeError("counting_client counts calls to the emulator: none is set")
    return _CountingClient(counter, project=project, database=database)
