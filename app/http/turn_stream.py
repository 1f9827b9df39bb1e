"""A customer turn answered as server-sent events: the reply's text as it is produced, then the
stored turn (POST /v1/sessions/{id}/messages with `Accept: text/event-stream`).

Events: `delta` `{"text": "<piece>"}` while the model words the reply (token by token with
Gemini, the whole text at once with the rules model), then `turn` with exactly the JSON the
non-streaming call answers; an error once the stream has begun is an `error` event with the
problem document. The `turn` event's reply is the text as stored: when the wording failed
halfway and the draft was stored instead, it differs from the deltas, and it is the one to show.

The turn runs in a thread of its own and hands its pieces over a queue, so that they can be
written to the client while the model is still producing; the request's thread waits for the
first piece, so an error before any (unknown session, invalid text, a full session) is answered
with its usual status. The turn is stored whole, in one write, before the `turn` event is sent:
a client that goes away mid-stream leaves a complete turn, never a half-written one.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request

from app.domain.records import TurnOutcome
from app.http.streaming import event_stream, problem_document
from app.live import sse
from app.logs.setup import log_event

log = logging.getLogger(__name__)

Run = Callable[[Callable[[str], None]], TurnOutcome]


def stream_turn(run: Run, body_of: Callable[[TurnOutcome], dict[str, Any]]) -> Response:
    """Run the turn (`run(on_text)`) and answer its events; raises what it raised before its
    first piece of text."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            outcome = run(lambda text: items.put(("delta", text)))
            body = body_of(outcome)
            fields = {"event": "turn.streamed", "route": outcome.route.value}
            fields |= {"source": outcome.source, "intent": outcome.intent}
            log_event(log, logging.INFO, f"streamed turn: {outcome.route.value}", fields)
            items.put(("turn", body))
        except BaseException as error:  # handed to the request's thread
            items.put(("error", error))

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="turn-stream", daemon=True).start()
    first = items.get()
    if first[0] == "error":
        raise first[1]
    return event_stream(_events(first, items, request.path))


def _events(
    first: tuple[str, Any], items: queue.Queue[tuple[str, Any]], path: str
) -> Iterator[bytes]:
    kind, value = first
    while True:
        if kind == "delta":
            yield sse.event("delta", {"text": value})
        elif kind == "turn":
            yield sse.event("turn", value)
            return
        else:
            yield sse.event("error", problem_document(value, path))
            return
        kind, value = items.get()
