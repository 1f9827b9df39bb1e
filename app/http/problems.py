"""Every error answer as `application/problem+json` (RFC 9457), never a stack trace.

One place maps what can go wrong in a request (a werkzeug HTTP error, an `app.domain.errors`
exception, a bug) to a problem document with `type`, `title`, `status`, `detail` and
`instance`, so a client can act on the status and read the reason.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, json, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from app.domain.errors import AppError, Unavailable

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:agent-platform:problem:"

logger = logging.getLogger("app.http.errors")


def problem_type(status: int) -> str:
    """A stable type URI per status, for example `urn:agent-platform:problem:invalid-input`."""
    names = {
        400: "malformed-request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        409: "conflict",
        413: "body-too-large",
        415: "unsupported-media-type",
        422: "invalid-input",
        429: "too-many-requests",
        500: "internal-error",
        503: "unavailable",
    }
    name = names.get(status)
    return PROBLEM_TYPE_BASE + name if name else "about:blank"


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A problem+json response; `extensions` become extra members (e.g. `field`)."""
    body: dict[str, Any] = {
        "type": problem_type(status),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    body.update({k: v for k, v in extensions.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_http_exception(error: HTTPException) -> BaseResponse:
    status = error.code or 500
    if status < 400:  # a routing redirect: let Flask answer it as is
        return error.get_response()
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    detail = getattr(error, "problem_detail", None) or _plain(error.description)
    if isinstance(error, RequestEntityTooLarge):
        detail = (
            f"Request body is over the limit of {current_app.config['MAX_CONTENT_LENGTH']} bytes"
        )
    field = getattr(error, "problem_field", None)
    return problem(status, detail, headers=headers, field=field)


def _plain(description: str | None) -> str:
    """Werkzeug's default descriptions are safe text; keep them short and on one line."""
    return " ".join((description or "").split())


def _from_app_error(error: AppError) -> Response:
    if error.status >= 500 and not isinstance(error, Unavailable):
        return _from_unexpected(error)
    headers = {}
    if isinstance(error, Unavailable):
        headers["Retry-After"] = str(max(1, int(error.retry_after)))
        logger.warning("backend unavailable: %s", error.detail)
    return problem(
        error.status, error.detail, title=error.title, headers=headers, field=error.field
    )


def _from_unexpected(error: Exception) -> Response:
    logger.error("unhandled error in %s %s", request.method, request.path, exc_info=error)
    return problem(500, "The server failed to handle the request. The error has been logged.")


def register_problem_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(AppError, _from_app_error)
    app.register_error_handler(Exception, _from_unexpected)
