"""Errors the agents raise; the HTTP layer maps each to one problem+json status.

Agents and adapters raise these instead of HTTP exceptions so the same code serves the api,
the worker and the local queue, and so that bad input can never surface as a 500.
"""

from __future__ import annotations


class AppError(Exception):
    """Base class: `status` is the HTTP status a client can act on."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(AppError):
    """The request is well-formed JSON but a field is missing, of the wrong type or not allowed."""

    status = 422
    title = "Invalid input"


class Forbidden(AppError):
    """The caller is known but may not do this (for example act for another customer)."""

    status = 403
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    title = "Not found"


class Conflict(AppError):
    """For example an Idempotency-Key reused with a different body."""

    status = 409
    title = "Conflict"


class Unavailable(AppError):
    """A backend (store, queue, model) does not answer; the client may retry after `retry_after`."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
