"""The name a caller has in logs: a keyed hash of the token's subject.

Why keyed: a plain hash of a user id can be recomputed by anyone holding the id, linking log
lines back to an account; with LOG_PSEUDONYM_KEY secret, only holders of the key can.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "u-"


class Pseudonyms:
    """Stable pseudonyms for one key: the same subject always gets the same one."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a pseudonym key must not be empty")
        self._key = key

    @classmethod
    def for_audience(cls, secret: str | None, audience: str) -> Pseudonyms:
        """Keyed by the secret when there is one, else by a key derived from the audience."""
        if secret:
            return cls(secret.encode("utf-8"))
        return cls(hashlib.sha256(f"agent-platform-pseudonym:{audience}".encode()).digest())

    def of(self, subject: str) -> str:
        digest = hmac.new(self._key, subject.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:20]
