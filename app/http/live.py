"""Live updates of a session: its new messages as server-sent events.

GET /v1/sessions/{id}/events (the session's customer; anyone else gets the 404 of a session
that does not exist) and GET /v1/staff/sessions/{id}/events (staff, any customer's session).
The stream starts after the client's resume point: the `Last-Event-ID` header (the seq of the
last message it has), else the `after` query parameter, else the latest message (only new ones
then). Each message is `id: <seq>`, `event: message`, `data: <the message's JSON>`, in seq
order and once. How streams learn of new messages, the heartbeats, the maximum duration and the
per-process cap (503 with Retry-After past it) are app/live/feed.py's.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping

from flask import Blueprint, Response, request
from flask.sansio.blueprints import BlueprintSetupState

from app.domain.errors import InvalidInput, Unavailable
from app.http.access import current_customer, customers_only, staff_only
from app.http.context import resource_id, services
from app.http.streaming import event_stream
from app.live.feed import LiveFeed

blueprint = Blueprint("live", __name__)

LAST_EVENT_ID = "Last-Event-ID"
MAX_SEQ = 2**62  # the largest seq a store holds (app/agents/sessions.py)
FULL_RETRY_AFTER_SECONDS = 5  # streams end within LIVE_STREAM_MAX_SECONDS; most much sooner


@blueprint.record_once
def _end_streams_on_stop(state: BlueprintSetupState) -> None:
    """The server (app/server/buffering_worker.py) calls these hooks when it starts to stop:
    open streams end at once, so that their clients reconnect to another instance."""
    app = state.app
    app.extensions.setdefault("on_stopping", []).append(lambda: _stop(app.extensions))


def _stop(extensions: Mapping[str, object]) -> None:
    live = getattr(extensions.get("services"), "live", None)
    if live is not None:
        live.stop()


@blueprint.get("/v1/sessions/<session_id>/events")
@customers_only
def session_events(session_id: str) -> Response:
    return _stream(session_id, current_customer())


@blueprint.get("/v1/staff/sessions/<session_id>/events")
@staff_only
def staff_session_events(session_id: str) -> Response:
    return _stream(session_id, None)


def _stream(session_id: str, customer_id: str | None) -> Response:
    feed = _feed()
    session_id = resource_id(session_id, "session")
    after = resume_point(request.headers.get(LAST_EVENT_ID), request.args.get("after"))
    slot = feed.take_slot()
    if slot is None:
        raise Unavailable(
            "this instance holds the most live streams it serves (LIVE_MAX_STREAMS);"
            " reconnect after Retry-After seconds",
            retry_after=FULL_RETRY_AFTER_SECONDS,
        )
    try:
        session = feed.session(session_id, customer_id)
    except BaseException:
        slot.release()
        raise
    start = session.message_count if after is None else after
    gone = _peer_closed_check(request.environ.get("gunicorn.socket"))
    return event_stream(feed.stream(session.id, start, slot, gone), on_close=slot.release)


def _peer_closed_check(sock: socket.socket | None) -> Callable[[], bool] | None:
    """Whether the client has closed the connection, without reading what it may have sent:
    gunicorn hands the view its socket; a stream's client sends nothing after its request, so
    a readable socket with nothing to read has been closed by the client."""
    if sock is None:
        return None

    def closed() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError, ValueError):  # ValueError: TLS sockets
            return False
        except OSError:
            return True

    return closed


def _feed() -> LiveFeed:
    live: LiveFeed | None = getattr(services(), "live", None)
    if live is None:
        raise Unavailable("live updates are not available on this server")
    return live


def resume_point(last_event_id: str | None, after: str | None) -> int | None:
    """The seq the client has already (the header wins over the query); None: neither."""
    for name, raw in ((LAST_EVENT_ID, last_event_id), ("after", after)):
        if raw is None or not raw.strip():
            continue
        value = raw.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_SEQ:
            raise InvalidInput(
                f"{name} must be the seq of a message (an integer from 0 to {MAX_SEQ})",
                field=name,
            )
        return int(value)
    return None
