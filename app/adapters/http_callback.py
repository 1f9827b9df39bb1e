"""Delivers an inquiry's result to its callback URL: signed, idempotent, bounded in time.

The body is signed with HMAC-SHA256 over "<timestamp>.<body>" (the timestamp lets a receiver
refuse replays) and sent as `X-Signature: t=<unix seconds>,v1=<hex digest>`. The inquiry id
travels as `Idempotency-Key`, so a receiver drops the rare second delivery after a worker
crash between sending and recording. Redirects are not followed: the URL was checked against
the allowed hosts, a redirect could lead anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests

from app.ports import CallbackOutcome

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(key: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(key: str, body: bytes, header: str, now: float, tolerance_seconds: int = 300) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        expected = sign(key, body, timestamp)
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(expected, header)


class HttpCallbackSender:
    """Implements `app.ports.CallbackSender` with requests."""

    def __init__(
        self,
        signing_key: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not signing_key:
            raise ValueError("CALLBACK_SIGNING_KEY: required to send callbacks")
        self.key = signing_key
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or requests.Session()

    def send(self, url: str, payload: dict[str, Any], idempotency_key: str) -> CallbackOutcome:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.key, body, int(time.time())),
            IDEMPOTENCY_HEADER: idempotency_key,
            "User-Agent": "agent-platform-blueprint-callback/1",
        }
        try:
            response = self.session.post(
                url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            log.warning("callback failed, will retry: %s", type(exc).__name__)
            return CallbackOutcome.RETRY
        if 200 <= response.status_code < 300:
            return CallbackOutcome.DELIVERED
        if response.status_code in RETRYABLE_STATUSES:
            return CallbackOutcome.RETRY
        return CallbackOutcome.REJECTED

    def close(self) -> None:
        self.session.close()


class DisabledCallbackSender:
    """Used when CALLBACK_SIGNING_KEY is unset; inquiries with a callback URL are refused then,
    so this is only reached by inquiries stored under an earlier configuration."""

    def send(self, url: str, payload: dict[str, Any], idempotency_key: str) -> CallbackOutcome:
        log.error("callback not sent: CALLBACK_SIGNING_KEY is not set")
        return CallbackOutcome.REJECTED
