"""One structured log line per request, under the request's trace.

jsonPayload: event="http.request", method, path, status, latency_ms, role; plus Cloud Logging's
httpRequest so the line shows like a request log in the Logs Explorer.
"""

from __future__ import annotations

import contextlib
import logging
import time

from flask import Flask, Response, g, request

from app.logging_setup import (
    REQUEST_LOGGER,
    bind_trace,
    log_event,
    parse_trace_headers,
    unbind_trace,
)

logger = logging.getLogger(REQUEST_LOGGER)


def install_request_logging(app: Flask, role: str) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.trace_token = bind_trace(parse_trace_headers(request.headers))

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.get("request_started", time.perf_counter())
        latency = time.perf_counter() - started
        fields = {
            "event": "http.request",
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "latency_ms": round(latency * 1000, 3),
            "role": role,
        }
        http_request = {
            "requestMethod": request.method,
            "requestUrl": request.url,
            "status": response.status_code,
            "latency": f"{latency:.6f}s",
            "userAgent": request.user_agent.string,
            "remoteIp": request.remote_addr,
            "protocol": request.environ.get("SERVER_PROTOCOL"),
        }
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        message = f"{request.method} {request.path} {response.status_code}"
        log_event(logger, level, message, fields, http_request=http_request)
        return response

    @app.teardown_request
    def _unbind(_error: BaseException | None) -> None:
        token = g.pop("trace_token", None)
        if token is not None:
            with contextlib.suppress(ValueError, RuntimeError):  # bound in a copied context
                unbind_trace(token)
