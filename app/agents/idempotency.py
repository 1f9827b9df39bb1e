"""Idempotency-Key handling shared by the conversation and the inquiry services.

A key is unique within a scope (one session's turns, or inquiries); the request body's
fingerprint is stored with the first answer so that reusing a key for a different request is
a Conflict rather than a silent wrong answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

from app.domain.errors import Conflict, InvalidInput
from app.ports.store import IdempotencyRecord

RETENTION = timedelta(hours=24)
# What a key may be, defined here alone: the HTTP layer checks the header with `check_key` and
# /openapi.json publishes these limits (app/http/openapi.py), so the two cannot disagree.
HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 200
KEY_PATTERN = r"^[A-Za-z0-9._:+/=~-]+$"
_KEY = re.compile(KEY_PATTERN)


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX_LENGTH or not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{HEADER}: must be 1 to {KEY_MAX_LENGTH} characters of letters, digits and ._:+/=~-",
            field=HEADER,
        )
    return key


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def new_record(
    scope: str, key: str, body_fingerprint: str, response: dict[str, Any], now: datetime
) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=scope,
        key=key,
        fingerprint=body_fingerprint,
        response=response,
        created_at=now,
        expires_at=now + RETENTION,
    )


def ensure_same_request(record: IdempotencyRecord, body_fingerprint: str) -> None:
    if record.fingerprint != body_fingerprint:
        raise Conflict(
            f"Idempotency-Key {record.key!r} was already used with a different request body",
            field="Idempotency-Key",
        )
