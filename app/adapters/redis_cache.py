"""A short-term session cache in Redis in front of any `Store` (REDIS_HOST set).

What is cached: a session, which every customer turn reads, and the window of its latest
messages that `GET /v1/sessions/{id}` shows (`window`, 50): never the whole history, so an
entry's size and the work of keeping it current do not grow with the session. (The agents
themselves read no messages: the conversation's state is the session's flow.) Reads are
read-through (a miss reads the store and fills the cache), writes are write-through (a new
session is cached as written; appended messages are added to the cached window, and those
that fall out of it are dropped, field by field). Older pages, inquiries, idempotency
records, order claims and the rest pass straight to the store.

Correct under concurrent writers (never a session view missing an acknowledged message):
  - each session has a generation key holding a random token; every cached entry is stamped
    with the token current when its data was read from the store;
  - after every store write the writer replaces the token (a Lua script, atomic in Redis), so
    entries read before the write no longer match and are never served;
  - a reader notes the token before reading the store and fills the cache only if the token
    is still the same (Lua again): a fill that raced a write is dropped, not stored;
  - a writer appends its new messages to the cached window only when that window is current
    and ends right before them (seq contiguity); otherwise it drops the window.
The window is one hash: `gen`, `last_seq` and a field `m:<seq>` per message, so that a write
sets the new messages' fields and deletes those that fell out of the window, in one script,
touching only them (nothing copies the window, let alone the history).
A customer's erasure replaces the tokens of the erased sessions and deletes their entries.
If the token cannot be replaced (Redis unreachable after the store write), the session is
remembered and its token is replaced (its entries deleted) before this process trusts Redis
again; another instance that can still reach Redis may serve the older view until the entry's
TTL ends, which is why the TTL is short (REDIS_CACHE_TTL_SECONDS).

Never fails a request: every Redis error is logged and the store answers. Socket timeouts are
short, redis-py's own retries are off, and a circuit breaker keeps a dead Redis out of the
request path for a growing pause (1 s doubling to 30 s), probing with one request at a time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import uuid4

from app.adapters.redis_client import CircuitBreaker, redis_errors
from app.adapters.redis_codec import (
    decode_session,
    decode_window,
    encode_message,
    encode_session,
    window_fields,
)
from app.domain.errors import NotFound
from app.domain.records import Message, Session
from app.ports.store import (
    EffectMark,
    Erasure,
    IdempotencyRecord,
    NewMessage,
    StaleFlow,
    Store,
    Turn,
)

log = logging.getLogger(__name__)

GEN_TTL_SECONDS = 86_400  # generation tokens outlive every entry stamped with them
MAX_PENDING = 50_000

# KEYS: gen, entry. ARGV: expected token, ttl, then field/value pairs. Fills only if current.
FILL = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'gen', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: gen, session entry, window entry. ARGV: new token, ttl, gen ttl, first seq, last seq,
# window size, then the new messages' JSON in seq order (none: only invalidate). Replaces the
# token; keeps the window only if it was current and ends right before the new messages, adding
# their fields and deleting the ones that fell out of it; always drops the session.
AFTER_WRITE = """
local current = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
local stamp = redis.call('HGET', KEYS[3], 'gen')
local last = redis.call('HGET', KEYS[3], 'last_seq')
local first = tonumber(ARGV[4])
if #ARGV > 6 and stamp == current and last and tonumber(last) == first - 1 then
  local window = tonumber(ARGV[6])
  for i = 7, #ARGV do
    local seq = first + i - 7
    redis.call('HSET', KEYS[3], 'm:' .. seq, ARGV[i])
    redis.call('HDEL', KEYS[3], 'm:' .. (seq - window))
  end
  redis.call('HSET', KEYS[3], 'gen', ARGV[1], 'last_seq', ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  return 1
end
redis.call('DEL', KEYS[3])
return 0
"""
WINDOW = 50  # messages in the cached window: what GET /v1/sessions/{id} shows


_MISS = object()


class CachedStore:
    """Implements `Store`: sessions and messages through Redis, the rest straight through."""

    def __init__(
        self,
        store: Store,
        client: Any,
        ttl_seconds: int,
        breaker: CircuitBreaker | None = None,
        prefix: str = "agents",
        window: int = WINDOW,
    ) -> None:
        self.store = store
        self.window = window
        self.redis = client
        self.ttl = ttl_seconds
        self.gen_ttl = max(GEN_TTL_SECONDS, 2 * ttl_seconds)
        self.breaker = breaker or CircuitBreaker()
        self.prefix = prefix
        self._errors = redis_errors()
        self._fill = client.register_script(FILL)
        self._after_write = client.register_script(AFTER_WRITE)
        self._pending: set[str] = set()  # sessions written while Redis could not be told
        self._pending_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        """Single messages, inquiries, idempotency records, side effects, order claims, the
        handoff queue and housekeeping are not cached: one read of the store decides them (a
        claim must be the store's, never a copy)."""
        if name == "store":  # not set yet: no recursion while half constructed
            raise AttributeError(name)
        return getattr(self.store, name)

    # --- keys and the guarded call ---

    def _keys(self, session_id: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{session_id}}}"  # one hash slot per session
        # `window`, not the `messages` of the version before, which held the whole list in
        # another shape; `sess`, not `session`, whose entries lack the handoff state: during a
        # rollout each version reads only its own entries (the token is shared, so a write by
        # either version still makes the other's entries stale).
        return f"{base}:gen", f"{base}:sess", f"{base}:window"

    def _call(self, operation: Callable[[], Any]) -> Any:
        """Run a Redis operation; _MISS when the breaker is open or Redis fails."""
        if not self.breaker.allow():
            return _MISS
        try:
            self._flush_pending()
            result = operation()
        except self._errors as error:
            self.breaker.failure(error)
            return _MISS
        self.breaker.success()
        return result

    def _flush_pending(self) -> None:
        """Replace the tokens of sessions written while Redis was away, before trusting it."""
        with self._pending_lock:
            pending = list(self._pending)
        if not pending:
            return
        self._invalidate(pending)
        with self._pending_lock:
            self._pending.difference_update(pending)
        log.info("redis cache: invalidated %d session(s) written during the outage", len(pending))

    def _invalidate(self, session_ids: Iterable[str]) -> None:
        """New tokens, so that a fill that read the store before is dropped, and no entries:
        they are stale, and an erased session's must not linger until their TTL."""
        pipe = self.redis.pipeline(transaction=False)
        for session_id in session_ids:
            gen_key, session_key, messages_key = self._keys(session_id)
            pipe.set(gen_key, uuid4().hex, ex=self.gen_ttl)
            pipe.delete(session_key, messages_key)
        pipe.execute()

    def _remember(self, session_id: str) -> None:
        with self._pending_lock:
            if len(self._pending) >= MAX_PENDING:
                log.error("redis cache: too many sessions to invalidate; relying on the TTL")
                return
            self._pending.add(session_id)

    def _read(
        self, session_id: str, key_index: int, required: str = "data"
    ) -> tuple[Any, dict[str, Any] | None]:
        """(the session's current token, the entry if it is stamped with it and holds
        `required`), or (_MISS, None) when Redis is not asked or does not answer."""
        keys = self._keys(session_id)

        def read() -> tuple[str, dict[str, Any]]:
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(keys[0])
            pipe.hgetall(keys[key_index])
            gen, entry = pipe.execute()
            return _text(gen), {_text(k): _text(v) for k, v in entry.items()}

        found = self._call(read)
        if found is _MISS:
            return _MISS, None
        gen, entry = found
        return gen, (entry if entry.get("gen") == gen and required in entry else None)

    def _fill_entry(self, session_id: str, key_index: int, gen: str, fields: list[str]) -> None:
        keys = self._keys(session_id)
        self._call(
            lambda: self._fill(keys=[keys[0], keys[key_index]], args=[gen, self.ttl, *fields])
        )

    def _written(self, session_id: str, stored: list[Message]) -> None:
        """After a store write: new token, window extended or dropped, session dropped."""
        keys = self._keys(session_id)
        stored = sorted(stored, key=lambda m: m.seq)
        first = stored[0].seq if stored else 0
        last = stored[-1].seq if stored else 0
        items = [encode_message(m) for m in stored]
        args = [uuid4().hex, self.ttl, self.gen_ttl, first, last, self.window, *items]
        if self._call(lambda: self._after_write(keys=list(keys), args=args)) is _MISS:
            self._remember(session_id)

    # --- cached reads ---

    def _cached_session(self, entry: dict[str, Any] | None, now: datetime) -> Any:
        """The session an entry holds (None when expired at `now`), or _MISS."""
        if entry is None:
            return _MISS
        try:
            session = decode_session(entry["data"])
        except (ValueError, KeyError, TypeError):
            log.warning("redis cache: unreadable session entry ignored")
            return _MISS
        return session if session.expires_at > now else None

    def get_session(self, session_id: str, now: datetime) -> Session | None:
        gen, entry = self._read(session_id, 1)
        cached = self._cached_session(entry, now)
        if cached is not _MISS:
            hit: Session | None = cached
            return hit
        session = self.store.get_session(session_id, now)
        self._fill_session(session_id, gen, session)
        return session

    def get_turn_state(
        self, session_id: str, scope: str, key: str, now: datetime
    ) -> tuple[Session | None, IdempotencyRecord | None]:
        """The session from the cache when it is there (then the record alone from the
        store), else both from the store in its one read."""
        gen, entry = self._read(session_id, 1)
        cached = self._cached_session(entry, now)
        if cached is not _MISS:
            return cached, self.store.get_idempotency(scope, key, now)
        session, record = self.store.get_turn_state(session_id, scope, key, now)
        self._fill_session(session_id, gen, session)
        return session, record

    def _fill_session(self, session_id: str, gen: Any, session: Session | None) -> None:
        if session is not None and gen is not _MISS:
            self._fill_entry(session_id, 1, gen, ["data", encode_session(session)])

    def latest_messages(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[Message]:
        """The latest messages from the cached window when it holds them; older pages (and
        pages larger than the window) from the store."""
        if before is not None or limit > self.window:
            return self.store.latest_messages(session_id, limit, before)
        gen, entry = self._read(session_id, 2, "last_seq")
        if entry is not None:
            try:
                return decode_window(entry)[-limit:]
            except (ValueError, KeyError, TypeError):
                log.warning("redis cache: unreadable message window ignored")
        messages = self.store.latest_messages(session_id, self.window)
        if gen is not _MISS:
            self._fill_entry(session_id, 2, gen, window_fields(messages))
        return messages[-limit:]

    # --- writes: store first, then the cache ---

    def create_session(self, session: Session) -> None:
        self.store.create_session(session)
        gen_key, session_key, messages_key = self._keys(session.id)
        token = uuid4().hex

        def write() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(gen_key, token, ex=self.gen_ttl)
            pipe.delete(session_key, messages_key)
            pipe.hset(session_key, mapping={"gen": token, "data": encode_session(session)})
            pipe.expire(session_key, self.ttl)
            pipe.hset(messages_key, mapping={"gen": token, "last_seq": "0"})
            pipe.expire(messages_key, self.ttl)
            pipe.execute()

        if self._call(write) is _MISS:
            self._remember(session.id)

    def append_turn(self, turn: Turn) -> list[Message]:
        """DuplicateKey, ClaimExists and SessionFull leave the cache as it is: the store wrote
        nothing of the turn, so the cached view is still the store's."""
        try:
            stored = self.store.append_turn(turn)
        except (StaleFlow, NotFound):
            # The session the turn was computed on may have come from here: drop it.
            self._written(turn.session_id, [])
            raise
        self._written(turn.session_id, stored)
        return stored

    def append_once(
        self,
        session_id: str,
        message: NewMessage,
        dedupe_key: str,
        now: datetime,
        *,
        mark: EffectMark | None = None,
        max_messages: int | None = None,
    ) -> Message | None:
        """SessionFull leaves the cache as it is: the store wrote nothing."""
        stored = self.store.append_once(
            session_id, message, dedupe_key, now, mark=mark, max_messages=max_messages
        )
        if stored is not None:
            # A replayed message (already there) yields no contiguous append: the window is
            # dropped.
            self._written(session_id, [stored] if stored.id == message.id else [])
        return stored

    def erase_customer(self, customer_id: str, keep_inquiry_id: str | None = None) -> Erasure:
        """Erase in the store, then make sure no cached view of an erased session is served."""
        erasure = self.store.erase_customer(customer_id, keep_inquiry_id)
        erased = erasure.session_ids
        if erased and self._call(lambda: self._invalidate(erased)) is _MISS:
            for session_id in erased:
                self._remember(session_id)
        return erasure

    def ping(self) -> bool:
        """The store's answer only: the app works without its cache."""
        return self.store.ping()

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self.redis.close()
        self.store.close()


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else ("" if value is None else value)
