"""The callback sender when CALLBACK_SIGNING_KEY is unset: it sends nothing.

Apart from `http_callback` so that an app without callbacks never imports requests for them.
"""

from __future__ import annotations

import logging
from typing import Any

from app.ports.messaging import CallbackOutcome

log = logging.getLogger(__name__)


class DisabledCallbackSender:
    """Inquiries with a callback URL are refused while callbacks are off, so this is only
    reached by inquiries stored under an earlier configuration."""

    def send(self, url: str, payload: dict[str, Any], idempotency_key: str) -> CallbackOutcome:
        log.error("callback not sent: CALLBACK_SIGNING_KEY is not set")
        return CallbackOutcome.REJECTED
