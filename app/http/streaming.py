"""What every `text/event-stream` answer of the api shares: the response, its trace, errors.

Why: a streamed body is produced after the view has returned, when the request's context (and
with it the trace that the request log bound) is gone. `in_context` runs each step of the body
in a copy of the context the view saw, so the lines logged while streaming carry the request's
trace. An error once the stream has begun cannot change the status any more: it goes out as an
`error` event holding the problem document the status would have had (`problem_document`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

from flask import Response, request

from app.domain.errors import AppError, Unavailable
from app.http.problems import problem_type
from app.live import sse

log = logging.getLogger("app.http.errors")


def in_context(context: contextvars.Context, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, each produced (and the iterator closed) inside `context`."""
    try:
        while True:
            try:
                chunk = context.run(next, chunks)
            except StopIteration:
                return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            context.run(close)


def event_stream(chunks: Iterator[bytes], on_close: Callable[[], Any] | None = None) -> Response:
    """A streamed `text/event-stream` response of `chunks`, traced as this request.

    `on_close` runs when the server closes the response, even when the body never started
    (a generator that never ran has no `finally` of its own to run)."""
    body = in_context(contextvars.copy_context(), chunks)
    response = Response(body, mimetype=sse.MEDIA_TYPE, headers=sse.HEADERS)
    if on_close is not None:
        response.call_on_close(on_close)
    return response


def wants_event_stream() -> bool:
    """Whether this request asks for `text/event-stream` over JSON (`*/*` and none: JSON)."""
    accepted = request.accept_mimetypes
    return bool(accepted) and accepted.best_match(["application/json", sse.MEDIA_TYPE]) == (
        sse.MEDIA_TYPE
    )


def problem_document(error: BaseException, path: str) -> dict[str, Any]:
    """The problem+json body an error would have been answered with (500s logged, no detail)."""
    if isinstance(error, AppError) and (error.status < 500 or isinstance(error, Unavailable)):
        status, title, detail = error.status, error.title, error.detail
    else:
        log.error("unhandled error in a stream of %s", path, exc_info=error)
        status, title = 500, HTTPStatus(500).phrase
        detail = "The server failed to handle the request. The error has been logged."
    document: dict[str, Any] = {
        "type": problem_type(status),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path,
    }
    if isinstance(error, AppError) and error.field:
        document["field"] = error.field
    if isinstance(error, Unavailable):
        document["retry_after"] = max(1, int(error.retry_after))
    return document
