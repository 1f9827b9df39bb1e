"""The request line, written straight to the structured handler's stream.

Every request writes one line, and going through `logging` for it (a LogRecord, the logger
tree walked, the handler's lock taken twice) costs a good part of a FAQ search under
gunicorn's threads. `StructuredLineWriter.write` puts out the line the handler would write for
that record (the same `entry_line`), under the handler's own lock, so lines never interleave
and nothing reads differently in Cloud Logging. A test holds the two byte for byte.

It only does so when the handler would be the record's one destination: no other handler or
filter on the way. Otherwise, or for a payload it cannot encode, `write` returns False and the
caller logs the record as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, TypedDict

from app.logs.cloud_handler import CloudLogHandler, encode, entry_line, payload_fields


class SourceLocation(TypedDict):
    """Cloud Logging's sourceLocation of a line."""

    file: str
    line: int
    function: str


class LogSite:
    """A fixed place lines are written from: Cloud Logging's sourceLocation, encoded once."""

    __slots__ = ("encoded", "location")

    def __init__(self, file: str, line: int, function: str) -> None:
        self.location: SourceLocation = {"file": file, "line": line, "function": function}
        self.encoded = json.dumps(self.location, ensure_ascii=False)


class StructuredLineWriter:
    """Writes `log_payload` lines for one handler; built by `configure_logging`."""

    def __init__(self, handler: CloudLogHandler) -> None:
        self.handler = handler
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
        handler = self.handler
        try:
            line = entry_line(
                payload_fields(payload),
                logging.getLevelName(level),
                self._labels_by_logger.get(logger.name) or self._encode_labels(logger.name),
                handler.trace_fields(),
                site.encoded,
                encode(http_request),
            )
        except (TypeError, ValueError):
            return False  # not JSON: the record path reports it the way logging does
        lock = handler.lock
        assert lock is not None  # a Handler creates its lock when it is made
        with lock:
            try:
                handler.stream.write(line + handler.terminator)
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

    def _encode_labels(self, logger_name: str) -> str:
        labels = {"python_logger": logger_name} if logger_name else {}
        self._labels_by_logger[logger_name] = encode({**labels, **self.handler.labels})
        return self._labels_by_logger[logger_name]

    def _sole_destination(self, logger: logging.Logger, level: int) -> bool:
        """Would a record of `logger` at `level` reach this handler, and only it, unchanged?"""
        handler = self.handler
        if logger.disabled or level < handler.level or handler.filters != self._filters:
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
