"""The request line, written straight to the StructuredLogHandler's stream.

Every request writes one line, and going through `logging` for it (a LogRecord, the handler's
lock taken twice, the library's filter and its %-template) costs more than the rest of a FAQ
search under gunicorn's threads. `StructuredLineWriter.write` puts out the same bytes the
handler would write for that record, under the handler's own lock, so lines never interleave
and nothing reads differently in Cloud Logging. A test holds the two byte for byte.

It only does so when the handler would be the record's one destination: no other handler or
filter on the way, and the library's one-off diagnostic line already written. Otherwise, or for
a payload it cannot encode, `write` returns False and the caller logs the record as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import google.cloud.logging_v2 as logging_library
from google.cloud.logging_v2.handlers.structured_log import GCP_STRUCTURED_LOGGING_FIELDS

if TYPE_CHECKING:
    from app.logging_setup import LogSite

_encode = json.JSONEncoder(ensure_ascii=False).encode


class StructuredLineWriter:
    """Writes `log_payload` lines for one handler; built by `configure_logging`."""

    def __init__(
        self,
        handler: logging.StreamHandler,
        trace_fields: Callable[[], tuple[str, str, str]],
        labels: Mapping[str, str],
    ) -> None:
        self.handler = handler
        self.trace_fields = trace_fields
        self.labels = dict(labels)
        self._filters = list(handler.filters)
        self._labels_by_logger: dict[str, str] = {}

    def write(
        self,
        logger: logging.Logger,
        level: int,
        payload: Mapping[str, Any],
        site: LogSite,
        http_request: Mapping[str, Any],
    ) -> bool:
        """Write the line for `payload` and return True, or return False to have it logged."""
        if not self._sole_destination(logger, level):
            return False
        if not GCP_STRUCTURED_LOGGING_FIELDS.isdisjoint(payload):
            return False  # the library would drop those keys from the payload; let it
        try:
            line = self._line(logger.name, level, payload, site.encoded, http_request)
        except (TypeError, ValueError):
            return False  # not JSON: the record path reports it the way logging does
        handler = self.handler
        with handler.lock:
            try:
                handler.stream.write(line)
                handler.stream.flush()
            except RecursionError:
                raise
            except Exception:  # as the handler's own emit does: reported, not raised
                location = site.location
                record = logging.LogRecord(
                    logger.name, level, location["file"], location["line"], payload, None, None
                )
                handler.handleError(record)
        return True

    def _line(
        self,
        logger_name: str,
        level: int,
        payload: Mapping[str, Any],
        source_location: str,
        http_request: Mapping[str, Any],
    ) -> str:
        """The handler's GCP_FORMAT, filled in as its filter and `format` would fill it."""
        fields = _encode(payload)[1:-1]
        trace, span_id, sampled = self.trace_fields()
        labels = self._labels_by_logger.get(logger_name) or self._encode_labels(logger_name)
        return (
            f"{{{fields + ',' if fields else ''}"
            f'"severity": "{logging.getLevelName(level)}", '
            f'"logging.googleapis.com/labels": {labels}, '
            f'"logging.googleapis.com/trace": "{trace}", '
            f'"logging.googleapis.com/spanId": "{span_id}", '
            f'"logging.googleapis.com/trace_sampled": {sampled}, '
            f'"logging.googleapis.com/sourceLocation": {source_location}, '
            f'"httpRequest": {_encode(http_request)} '
            "}\n"
        )

    def _encode_labels(self, logger_name: str) -> str:
        labels = {"python_logger": logger_name} if logger_name else {}
        self._labels_by_logger[logger_name] = _encode({**labels, **self.labels})
        return self._labels_by_logger[logger_name]

    def _sole_destination(self, logger: logging.Logger, level: int) -> bool:
        """Would a record of `logger` at `level` reach this handler, and only it, unchanged?"""
        handler = self.handler
        if (
            logger.disabled
            or level < handler.level
            or handler.filters != self._filters
            or not getattr(logging_library, "_instrumentation_emitted", True)
        ):
            return False
        reached = False
        node: logging.Logger | None = logger
        while node is not None:
            if node.filters:
                return False
            for other in node.handlers:
                if other is not handler or reached:
                    return False
                reached = True
            node = node.parent if node.propagate else None
        return reached
