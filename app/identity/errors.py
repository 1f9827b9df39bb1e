"""Why a token was refused, in words safe to send back: never the token itself."""

from __future__ import annotations


class InvalidToken(Exception):
    """The token fails a check; `reason` names the check (answered as 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingToken(InvalidToken):
    """No bearer token at all (401 without `error="invalid_token"`, as RFC 6750 asks)."""


class KeysUnavailable(Exception):
    """The signing keys cannot be fetched and none are cached (answered as 503)."""
