"""Wires live updates from settings: the hub, the store that announces writes, the feed.

Called by app/wiring.py on both roles: the worker's writes must be announced too (over Redis
when REDIS_HOST is set), and only the api opens streams. Without Redis, the announcements reach
this process's streams only; streams of another process (the api under `make run`, whose
worker is a separate process on the same SQLite file) find new messages by their poll.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from app.config.settings import Settings
from app.live.feed import LiveFeed, Timings
from app.live.hub import Hub
from app.live.notifying_store import NotifyingStore
from app.ports.clock import Clock
from app.ports.store import Store

log = logging.getLogger(__name__)


def build_live(
    settings: Settings, store: Store, clock: Clock, closers: list[Any]
) -> tuple[Store, LiveFeed]:
    """(the store to use everywhere, announcing its writes; the live feed over it)."""
    hub = Hub()
    notify = hub.notify
    listen = None
    if settings.redis_host:
        from app.adapters.redis_client import connect_redis
        from app.live.redis_channel import RedisChannel

        client = connect_redis(
            settings.redis_host, settings.redis_port, settings.redis_auth, settings.redis_ca_cert
        )
        channel = RedisChannel(client, hub)
        notify, listen = channel.notify, channel.start
        closers.append(channel.close)
        closers.append(client.close)
    announcing = NotifyingStore(store, notify)
    timings = Timings(
        heartbeat_seconds=settings.live_heartbeat_seconds,
        max_seconds=settings.live_stream_max_seconds,
        poll_seconds=settings.live_poll_seconds,
    )
    feed = LiveFeed(
        announcing,
        clock,
        hub,
        timings,
        settings.live_max_streams,
        timedelta(seconds=settings.session_max_age),
        listen=listen,
    )
    closers.append(feed.stop)
    return announcing, feed
