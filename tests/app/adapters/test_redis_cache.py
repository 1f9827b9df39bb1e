"""The session cache on a real redis-server: read-through, write-through, concurrent writers,
an unreachable or hung Redis, and TLS as Memorystore serves it.

Two `CachedStore`s on one SQLite file and one Redis stand for two Cloud Run instances (the api
and the worker). A counting wrapper around the store shows what the cache answered itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from app.adapters.redis_cache import WINDOW, CachedStore
from app.adapters.redis_client import CircuitBreaker, connect_redis
from app.adapters.redis_codec import encode_session
from app.adapters.sqlite_db import Database
from app.adapters.sqlite_store import SqliteStore
from app.domain.records import HandoffState, Session
from app.ports.store import ClaimExists, NewMessage, OrderClaim, StaleFlow, Turn
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import START
from tests.conftest import require_binary
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
PASSWORD = "cache-test-auth"
NOW = START


@contextlib.contextmanager
def redis_process(workdir, port, *extra):
    """A throwaway redis-server we can pause (SIGSTOP) to play a hung Memorystore."""
    binary = require_binary("redis-server")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(workdir), *extra]
    log = (workdir / f"redis-{port}.log").open("w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
        process.wait(timeout=10)
        log.close()


def wait_until_answers(client, process):
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping():
                return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    with redis_process(workdir, port) as process:
        wait_until_answers(connect_redis("127.0.0.1", port, PASSWORD, timeout_seconds=1), process)
        yield port


class CountingStore:
    """Passes every call to the store and counts the cached reads that reached it."""

    def __init__(self, store):
        self.store = store
        self.calls = Counter()
        self.after_list = None  # a hook run between the store's read and the cache's fill

    def get_session(self, session_id, now):
        self.calls["get_session"] += 1
        return self.store.get_session(session_id, now)

    def latest_messages(self, session_id, limit, before=None):
        self.calls["latest_messages"] += 1
        messages = self.store.latest_messages(session_id, limit, before)
        if self.after_list is not None:
            hook, self.after_list = self.after_list, None
            hook()
        return messages

    def __getattr__(self, name):
        return getattr(self.store, name)


@pytest.fixture
def sqlite(tmp_path):
    store = SqliteStore(Database(str(tmp_path / "data")))
    yield store
    store.close()


def cached(sqlite, port, **kwargs):
    client = connect_redis("127.0.0.1", port, PASSWORD)
    if kwargs.pop("flush", False):
        client.flushdb()
    return CachedStore(CountingStore(sqlite), client, ttl_seconds=120, **kwargs)


def new_session(store, session_id="s-1") -> Session:
    session = Session(session_id, "C001", {"lang": "en"}, NOW, NOW + timedelta(hours=1))
    store.create_session(session)
    return session


def turn(session_id, *texts, version=0, flow=None, claim: OrderClaim | None = None) -> Turn:
    return Turn(
        session_id=session_id,
        messages=tuple(NewMessage(role="customer", text=t) for t in texts),
        expected_flow_version=version,
        new_flow=flow,
        now=NOW,
        expires_at=NOW + timedelta(hours=2),
        order_claim=claim,
    )


def texts(messages):
    return [m.text for m in messages]


def test_reads_after_create_and_after_a_turn_come_from_the_cache(sqlite, redis_port):
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(api)
    assert api.get_session(session.id, NOW) == session
    assert api.latest_messages(session.id, 50) == []
    api.append_turn(turn(session.id, "hello", "hi there"))
    assert texts(api.latest_messages(session.id, 50)) == ["hello", "hi there"]
    assert [m.seq for m in api.latest_messages(session.id, 50)] == [1, 2]
    assert api.store.calls["latest_messages"] == 0  # written through, never read from the store

    fresh = api.get_session(session.id, NOW)  # the turn slid the expiry: read through once
    assert fresh.expires_at == NOW + timedelta(hours=2)
    assert api.get_session(session.id, NOW) == fresh
    assert api.store.calls["get_session"] == 1
    assert api.get_session(session.id, NOW + timedelta(hours=3)) is None  # expired


def test_the_cache_holds_the_window_only_however_long_the_session(sqlite, redis_port):
    """A turn adds its messages to the window and drops those that fell out of it: the entry
    stays WINDOW messages (what GET shows), where it held the whole history before."""
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(api)
    window_key = api._keys(session.id)[2]
    sizes = []
    for n in range(1, 61):
        api.append_turn(turn(session.id, f"q{n}", f"a{n}"))
        if n in (30, 60):
            sizes.append(api.redis.memory_usage(window_key))
    fields = {name.decode() for name in api.redis.hkeys(window_key)}
    assert fields == {"gen", "last_seq"} | {f"m:{seq}" for seq in range(71, 121)}
    assert sizes[1] < 1.2 * sizes[0]  # 120 messages cost what 60 did: the window's 50
    assert api.latest_messages(session.id, WINDOW) == sqlite.latest_messages(session.id, WINDOW)
    assert api.latest_messages(session.id, 3) == sqlite.latest_messages(session.id, 3)
    assert api.store.calls["latest_messages"] == 0  # the window, written through
    older = api.latest_messages(session.id, 20, before=71)  # an older page: from the store
    assert [m.seq for m in older] == list(range(51, 71))
    assert api.store.calls["latest_messages"] == 1


def test_a_keyed_turn_reads_its_session_from_the_cache_and_the_key_from_the_store(
    sqlite, redis_port
):
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(api)
    scope = f"session:{session.id}"
    assert api.get_turn_state(session.id, scope, "k", NOW) == (session, None)
    assert api.store.calls["get_session"] == 0  # cached when created
    api.redis.flushdb()
    assert api.get_turn_state(session.id, scope, "k", NOW) == (session, None)  # read through
    assert api.get_session(session.id, NOW) == session  # ... and filled
    assert api.get_turn_state("nope", scope, "k", NOW) == (None, None)


def test_a_write_by_another_instance_is_seen_at_once(sqlite, redis_port):
    api = cached(sqlite, redis_port, flush=True)
    worker = cached(sqlite, redis_port)
    session = new_session(api)
    api.append_turn(turn(session.id, "refund A1007", "opened an inquiry"))
    assert len(api.latest_messages(session.id, 50)) == 2
    result = worker.append_once(session.id, NewMessage("system", "refund approved"), "inq:1", NOW)
    assert result.seq == 3
    assert texts(api.latest_messages(session.id, 50))[-1] == "refund approved"
    # The redelivered result is not stored twice, and the view stays complete.
    worker.append_once(session.id, NewMessage("system", "refund approved"), "inq:1", NOW)
    assert [m.seq for m in api.latest_messages(session.id, 50)] == [1, 2, 3]


def test_a_read_that_raced_a_write_never_caches_the_older_view(sqlite, redis_port):
    api = cached(sqlite, redis_port, flush=True)
    worker = cached(sqlite, redis_port)
    session = new_session(sqlite)  # straight into the store: nothing cached yet
    api.append_turn(turn(session.id, "hello", "hi"))

    def concurrent_write():
        worker.append_once(session.id, NewMessage("system", "result"), "inq:1", NOW)

    # api reads the two messages, then the worker writes and invalidates, then api fills.
    api.store.after_list = concurrent_write
    api.redis.flushdb()
    assert texts(api.latest_messages(session.id, 50)) == ["hello", "hi"]
    assert texts(api.latest_messages(session.id, 50)) == ["hello", "hi", "result"]


def test_a_stale_flow_drops_the_cached_session(sqlite, redis_port):
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(api)
    sqlite.append_turn(turn(session.id, "a", "b", flow={"step": "confirm"}))  # behind its back
    api.redis.flushdb()
    stale = api.get_session(session.id, NOW)
    assert stale.flow_version == 1
    sqlite.append_turn(turn(session.id, "c", "d", version=1, flow={"step": "done"}))
    with pytest.raises(StaleFlow):
        api.append_turn(turn(session.id, "e", "f", version=stale.flow_version))
    assert api.get_session(session.id, NOW).flow == {"step": "done"}


def test_a_turn_refused_for_its_orders_claim_leaves_the_cached_view_as_it_was(sqlite, redis_port):
    """The store wrote nothing, so the cache keeps serving its view, which is the store's."""
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(api)
    returned = OrderClaim("A1001", "return", "RMA-A1001", "C001", "label_sent", 4999, NOW)
    api.append_turn(
        turn(session.id, "return A1001", "label sent", flow={"step": "done"}, claim=returned)
    )
    assert api.get_claim("A1001") == returned  # claims pass straight through to the store
    view = (api.get_session(session.id, NOW), api.latest_messages(session.id, 50))  # now cached
    reads = Counter(api.store.calls)
    again = OrderClaim("A1001", "return", "RMA-2", "C001", "label_sent", 1, NOW)
    with pytest.raises(ClaimExists) as caught:
        api.append_turn(turn(session.id, "again", "sent", version=1, flow={"x": 1}, claim=again))
    assert caught.value.existing == returned
    assert (api.get_session(session.id, NOW), api.latest_messages(session.id, 50)) == view
    assert view == (sqlite.get_session(session.id, NOW), sqlite.latest_messages(session.id, 50))
    assert api.store.calls == reads  # served from the cache: the refusal left it in place
    api.append_turn(turn(session.id, "thanks", "welcome", version=1))  # appended to the list
    assert texts(api.latest_messages(session.id, 50)) == [
        "return A1001",
        "label sent",
        "thanks",
        "welcome",
    ]
    assert api.store.calls["latest_messages"] == reads["latest_messages"]
    assert api.create_claim(again) == returned


def test_concurrent_writers_never_hide_an_acknowledged_message(sqlite, redis_port):
    """A view is the latest WINDOW messages without a gap, and holds every message
    acknowledged before it was read that is recent enough to be in it."""
    instances = [cached(sqlite, redis_port, flush=True), cached(sqlite, redis_port)]
    session = new_session(instances[0])
    acknowledged: dict[str, int] = {}  # text -> seq
    lock = threading.Lock()
    problems: list[str] = []
    stop = threading.Event()

    def writer(n):
        for i in range(15):
            store = instances[(n + i) % 2]
            if i % 2:
                stored = store.append_turn(turn(session.id, f"w{n}-{i}", f"r{n}-{i}", version=0))
                seq = stored[0].seq
            else:
                message = NewMessage("system", f"w{n}-{i}")
                seq = store.append_once(session.id, message, f"k{n}-{i}", NOW).seq
            with lock:
                acknowledged[f"w{n}-{i}"] = seq

    def reader(n):
        while not stop.is_set():
            with lock:
                expected = dict(acknowledged)
            view = instances[n % 2].latest_messages(session.id, WINDOW)
            seqs = [m.seq for m in view]
            last = seqs[-1] if seqs else 0
            if seqs != list(range(last - len(seqs) + 1, last + 1)) or len(seqs) < min(WINDOW, last):
                problems.append(f"not the latest {WINDOW} without a gap: {seqs}")
            due = {text for text, seq in expected.items() if seq > last - WINDOW}
            if max(expected.values(), default=0) > last or not due <= set(texts(view)):
                problems.append(f"missing {sorted(due - set(texts(view)))} (last {last})")

    readers = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert problems == []
    final = all_messages(instances[0], session.id)
    assert [m.seq for m in final] == list(range(1, len(final) + 1))
    assert len(final) > WINDOW  # the window moved on while they wrote
    assert {f"w{n}-{i}" for n in range(4) for i in range(15)} <= set(texts(final))


class Ticks:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class CountingClient:
    """Counts the requests the cache starts (every read starts with a pipeline)."""

    def __init__(self, client):
        self.client = client
        self.pipelines = 0

    def pipeline(self, *args, **kwargs):
        self.pipelines += 1
        return self.client.pipeline(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_no_redis_at_all_the_store_answers_and_redis_is_not_asked_again(sqlite):
    ticks = Ticks()
    client = CountingClient(connect_redis("127.0.0.1", free_port(), PASSWORD))
    store = CachedStore(sqlite, client, 120, breaker=CircuitBreaker(clock=ticks))
    session = new_session(store)
    store.append_turn(turn(session.id, "hello", "hi"))
    for _ in range(5):
        assert store.get_session(session.id, NOW).id == session.id
        assert texts(store.latest_messages(session.id, 50)) == ["hello", "hi"]
    assert client.pipelines == 1  # the create's write failed; then the breaker kept it away
    ticks.now += 60
    store.latest_messages(session.id, 50)
    assert client.pipelines == 2  # one probe after the pause


class SwitchableClient:
    """A client whose Redis can be cut off for this instance only (others still reach it)."""

    def __init__(self, live, dead):
        self.live, self.dead = live, dead
        self.target = live

    def register_script(self, text):
        script = self.live.register_script(text)
        return lambda keys, args: script(keys=keys, args=args, client=self.target)

    def __getattr__(self, name):
        return getattr(self.target, name)


def cut_off_instance(sqlite, redis_port):
    """(an instance whose Redis can be cut off, its client, the clock of its breaker)."""
    ticks = Ticks()
    dead = connect_redis("127.0.0.1", free_port(), PASSWORD)
    client = SwitchableClient(connect_redis("127.0.0.1", redis_port, PASSWORD), dead)
    return CachedStore(sqlite, client, 120, breaker=CircuitBreaker(clock=ticks)), client, ticks


def test_a_write_while_redis_was_unreachable_is_invalidated_before_trusting_it_again(
    sqlite, redis_port
):
    api, client, ticks = cut_off_instance(sqlite, redis_port)
    other = cached(sqlite, redis_port, flush=True)  # an instance Redis keeps answering
    session = new_session(api)
    api.append_turn(turn(session.id, "hello", "hi"))
    assert texts(other.latest_messages(session.id, 50)) == ["hello", "hi"]  # cached

    client.target = client.dead
    api.append_turn(turn(session.id, "where is A1003?", "on its way"))  # acknowledged
    assert api.breaker.is_open
    assert len(api.latest_messages(session.id, 50)) == 4  # from the store
    client.target = client.live

    ticks.now += 60  # the breaker lets one probe through, which first invalidates
    assert len(api.latest_messages(session.id, 50)) == 4
    assert len(other.latest_messages(session.id, 50)) == 4  # the older entry is never served


def test_an_erased_session_is_never_served_from_the_cache(sqlite, redis_port):
    api = cached(sqlite, redis_port, flush=True)
    worker = cached(sqlite, redis_port)  # runs the erasure
    mine = new_session(api)
    theirs = Session("s-2", "C002", {}, NOW, NOW + timedelta(hours=1))
    api.create_session(theirs)
    api.append_turn(turn(mine.id, "hello", "hi"))
    for instance in (api, worker):
        assert instance.get_session(mine.id, NOW) is not None
        assert texts(instance.latest_messages(mine.id, 50)) == ["hello", "hi"]
    assert worker.erase_customer("C001").session_ids == (mine.id,)
    assert api.redis.exists(*api._keys(mine.id)[1:]) == 0  # its content has left Redis
    for instance in (api, worker):
        assert instance.get_session(mine.id, NOW) is None
        assert instance.latest_messages(mine.id, 50) == []
    reads = api.store.calls["get_session"]
    assert api.get_session(theirs.id, NOW) == theirs
    assert api.store.calls["get_session"] == reads  # another customer's entry is still served


def test_an_erasure_while_redis_was_unreachable_is_invalidated_before_trusting_it_again(
    sqlite, redis_port
):
    worker, client, ticks = cut_off_instance(sqlite, redis_port)
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(api)
    api.append_turn(turn(session.id, "hello", "hi"))
    assert texts(api.latest_messages(session.id, 50)) == ["hello", "hi"]  # cached

    client.target = client.dead
    assert worker.erase_customer("C001").session_ids == (session.id,)  # no request fails
    assert worker.breaker.is_open
    client.target = client.live

    ticks.now += 60  # the breaker lets one probe through, which first invalidates
    assert worker.get_session(session.id, NOW) is None
    assert api.latest_messages(session.id, 50) == []  # the older entry is never served
    assert api.get_session(session.id, NOW) is None


def test_a_hung_redis_fails_no_request(sqlite, tmp_path):
    port = free_port()
    with redis_process(tmp_path, port) as process:
        client = connect_redis("127.0.0.1", port, PASSWORD)
        wait_until_answers(client, process)
        api = CachedStore(sqlite, client, 120)
        session = new_session(api)
        os.kill(process.pid, signal.SIGSTOP)  # Redis hangs: commands time out
        try:
            api.append_turn(turn(session.id, "where is A1003?", "on its way"))
            assert api.breaker.is_open
            assert api.get_session(session.id, NOW).id == session.id
            assert texts(api.latest_messages(session.id, 50)) == ["where is A1003?", "on its way"]
        finally:
            os.kill(process.pid, signal.SIGCONT)


def _tls_files(workdir):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test-ca"))
        .issuer_name(name("test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("redis"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (workdir / "server.crt").write_bytes(cert.public_bytes(pem))
    (workdir / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (workdir / "ca.crt").write_bytes(ca.public_bytes(pem))
    return ca.public_bytes(pem).decode()


def test_tls_with_the_servers_ca_and_refused_with_another(sqlite, tmp_path):
    ca_pem = _tls_files(tmp_path)
    (tmp_path / "other").mkdir()
    other_ca = _tls_files(tmp_path / "other")
    port = free_port()
    tls = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
    tls += ["--tls-cert-file", str(tmp_path / "server.crt")]
    tls += ["--tls-key-file", str(tmp_path / "server.key")]
    tls += ["--tls-ca-cert-file", str(tmp_path / "ca.crt")]
    with redis_process(tmp_path, free_port(), *tls) as process:
        client = connect_redis("127.0.0.1", port, PASSWORD, ca_cert_pem=ca_pem)
        wait_until_answers(client, process)
        store = CachedStore(sqlite, client, 120)
        session = new_session(store)
        assert store.get_session(session.id, NOW) == session
        assert client.exists(store._keys(session.id)[1]) == 1  # cached over TLS

        untrusted = connect_redis("127.0.0.1", port, PASSWORD, ca_cert_pem=other_ca)
        guarded = CachedStore(sqlite, untrusted, 120)
        assert guarded.get_session(session.id, NOW) == session  # from the store
        assert guarded.breaker.is_open  # the handshake failed: no cache, no failure


# --- The handoff state, which a cached session must never lose ------------------------------


def test_a_handoff_change_by_another_instance_is_seen_at_once(sqlite, redis_port):
    """The agent stays silent while a person holds the conversation: a cached session must
    carry the state, and a staff member's write on another instance must replace it."""
    api = cached(sqlite, redis_port, flush=True)
    staff = cached(sqlite, redis_port)
    session = new_session(api)
    asked = replace(turn(session.id, "a person please", "one moment"), handoff=HandoffState.WAITING)
    api.append_turn(asked)
    waiting = api.get_session(session.id, NOW)
    assert (waiting.handoff, waiting.handoff_since, waiting.flow_version) == (
        HandoffState.WAITING,
        NOW,
        1,
    )
    assert api.get_session(session.id, NOW) == waiting  # from the cache now
    calls = api.store.calls["get_session"]
    joined = replace(turn(session.id, "hello", version=1), handoff=HandoffState.JOINED)
    staff.append_turn(joined)
    seen = api.get_session(session.id, NOW)
    assert seen.handoff is HandoffState.JOINED and seen.flow_version == 2
    assert api.store.calls["get_session"] == calls + 1  # the old entry was not served
    assert api.get_session(session.id, NOW) == seen == sqlite.get_session(session.id, NOW)


def test_an_entry_without_the_handoff_state_is_never_served(sqlite, redis_port):
    """An entry of the version before would read as "none" for a waiting customer: it lives
    under another key, and one without the state is a miss."""
    api = cached(sqlite, redis_port, flush=True)
    session = new_session(sqlite)
    sqlite.append_turn(replace(turn(session.id, "a person please"), handoff=HandoffState.WAITING))
    gen_key, session_key, _ = api._keys(session.id)
    assert not session_key.endswith(":session")
    old = json.loads(encode_session(session))
    del old["handoff"], old["handoff_since"]
    api.redis.set(gen_key, "g1")
    api.redis.hset(session_key, mapping={"gen": "g1", "data": json.dumps(old)})
    assert api.get_session(session.id, NOW).handoff is HandoffState.WAITING
