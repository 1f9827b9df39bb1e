"""One structured log line per request, under the request's trace.

jsonPayload: event="http.request", method, path, status, latency_ms, role, and `caller` (the
verified caller's pseudonym, app.identity.pseudonym; never an e-mail or a token) when the
request was authenticated, and for a customer turn the `route`, `source` and `intent` that
answered it (never the customer's words); plus Cloud Logging's httpRequest so the line shows
like a request log in the Logs Explorer.

A WSGI middleware rather than Flask hooks: it binds the trace once around the whole request
(error handlers included) and writes its line after Flask's request context is gone, where
the logging library does not re-derive request data that this line already carries. The line
goes out through `log_payload`, which writes it straight to the structured handler's stream
(`app.logs.structured_line`): on the FAQ route, going through a LogRecord and the handler was the
largest part of the app's own per-request cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from app.http.access import CALLER_ENVIRON_KEY
from app.logs.setup import (
    REQUEST_LOGGER,
    bind_trace,
    log_payload,
    parse_trace_headers,
    unbind_trace,
)
from app.logs.structured_line import LogSite

logger = logging.getLogger(REQUEST_LOGGER)
TURN_ENVIRON_KEY = "app.turn"  # (route, source, intent) of a customer turn, set by its view

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def install_request_logging(app: Flask, role: str) -> None:
    app.wsgi_app = RequestLog(app.wsgi_app, role)  # type: ignore[method-assign]


class RequestLog:
    """Wraps a WSGI app: trace bound while it runs, one line once it has answered."""

    def __init__(self, app: WsgiApp, role: str) -> None:
        self.app = app
        self.role = role

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        headers = {
            "traceparent": environ.get("HTTP_TRACEPARENT"),
            "X-Cloud-Trace-Context": environ.get("HTTP_X_CLOUD_TRACE_CONTEXT"),
        }
        token = bind_trace(parse_trace_headers(headers))
        status = [500]

        def recording_start_response(status_line: str, *args: Any) -> Any:
            status[0] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, *args)

        try:
            return self.app(environ, recording_start_response)
        finally:
            self._log(environ, status[0], time.perf_counter() - started)
            unbind_trace(token)

    def _log(self, environ: Environ, status: int, latency: float) -> None:
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        payload = {
            "event": "http.request",
            "method": method,
            "path": path,
            "status": status,
            "latency_ms": round(latency * 1000, 3),
            "role": self.role,
            "message": f"{method} {path} {status}",
        }
        caller = environ.get(CALLER_ENVIRON_KEY)
        if caller is not None:
            payload["caller"] = caller
        turn = environ.get(TURN_ENVIRON_KEY)
        if turn is not None:
            payload["route"], payload["source"], payload["intent"] = turn
        http_request = {
            "requestMethod": method,
            "requestUrl": _url(environ),
            "status": status,
            "latency": f"{latency:.6f}s",
            "userAgent": environ.get("HTTP_USER_AGENT", ""),
            "remoteIp": environ.get("REMOTE_ADDR"),
            "protocol": environ.get("SERVER_PROTOCOL"),
        }
        level = logging.ERROR if status >= 500 else logging.INFO
        log_payload(logger, level, payload, site=_SITE, http_request=http_request)


_SITE = LogSite(__file__, RequestLog._log.__code__.co_firstlineno, "RequestLog._log")


def _url(environ: Environ) -> str:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}"
    url += environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING")
    return f"{url}?{query}" if query else url
