"""Verification of an RS256 ID token: the one check every authenticated request passes.

Production (Identity Platform) and the laptop (the local issuer) differ only in the key
source, the issuer and the audience given to `TokenVerifier`. The checks follow Identity
Platform's rules for ID tokens: algorithm RS256 and a key id the key source knows, a valid
signature, `iss` and `aud` exactly the expected ones, `exp` in the future and `iat` and
`auth_time` in the past (each with a small clock skew), and a non-empty `sub`.

Every refusal is an `InvalidToken` whose reason names the failed check and never repeats the
token. PyJWT does the decoding and the standard claims; the algorithm is fixed here, never
taken from the token, so `alg: none` or HS256 signed with the public key cannot pass. PyJWT
(and the cryptography it loads, ~25 ms) is imported at the first token checked, not at start:
an instance woken by an anonymous request or a health check never pays for it.

A client sends the same token with every request for up to an hour, and the signature check
is most of a verification's cost (~0.1 ms), so tokens that passed are remembered (a bounded
map, by the exact token text) and only their expiry is checked again. A key withdrawn by the
issuer therefore stops a remembered token at its `exp` at the latest, as it would for any
verifier that cached the issuer's keys.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from app.identity.errors import InvalidToken

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

ALGORITHM = "RS256"
CLOCK_SKEW_SECONDS = 30
MAX_TOKEN_BYTES = 8192  # Identity Platform tokens are about 1 KB; custom claims add at most 1 KB
MAX_SUBJECT_CHARS = 128  # Identity Platform's limit on a user id
REMEMBERED_TOKENS = 1024  # verified tokens kept (about 1 KB each)
_SHOWN_ALGORITHM = re.compile(r"[A-Za-z0-9]{1,16}")


class KeySource(Protocol):
    """Public keys by key id (`kid`)."""

    def key_for(self, key_id: str) -> RSAPublicKey:
        """The key; InvalidToken when unknown, KeysUnavailable when none can be had."""
        ...


_REFUSALS: tuple[tuple[str, str], ...] = (  # PyJWT's exception names, first match wins
    ("ExpiredSignatureError", "the token has expired"),
    ("ImmatureSignatureError", "the token is not valid yet (issued in the future)"),
    ("InvalidSignatureError", "the token's signature is invalid"),
    ("InvalidIssuedAtError", "the token's iat must be a number"),
    ("InvalidAlgorithmError", f"the token's algorithm must be {ALGORITHM}"),
    ("DecodeError", "the token is malformed"),
)


class TokenVerifier:
    """Checks tokens of one issuer for one audience against one key source."""

    def __init__(
        self,
        keys: KeySource,
        issuer: str,
        audience: str,
        *,
        clock: Callable[[], float] = time.time,
        skew_seconds: int = CLOCK_SKEW_SECONDS,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self._clock = clock
        self._skew = skew_seconds
        self._verified: dict[str, Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> Mapping[str, Any]:
        """The token's claims once every check passed; InvalidToken naming the first failure."""
        remembered = self._verified.get(token)
        if remembered is not None and remembered["exp"] + self._skew > self._clock():
            return remembered
        claims = self._verify(token)
        with self._lock:
            if len(self._verified) >= REMEMBERED_TOKENS:
                self._verified.pop(next(iter(self._verified)))  # the oldest goes
            self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> Mapping[str, Any]:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        key = self.keys.key_for(_key_id(_header(token)))
        import jwt

        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._skew,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.MissingRequiredClaimError as missing:
            raise InvalidToken(f"the token has no {missing.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"the token's audience is not {self.audience}") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(f"the token's issuer is not {self.issuer}") from None
        except jwt.InvalidTokenError as error:
            raise InvalidToken(_reason(error)) from None
        self._check_subject(claims.get("sub"))
        self._check_auth_time(claims.get("auth_time"))
        return claims

    def _check_subject(self, subject: Any) -> None:
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidToken("the token's sub must be a non-empty string")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise InvalidToken(f"the token's sub is longer than {MAX_SUBJECT_CHARS} characters")

    def _check_auth_time(self, auth_time: Any) -> None:
        if auth_time is None:
            raise InvalidToken("the token has no auth_time claim")
        if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
            raise InvalidToken("the token's auth_time must be a number")
        if auth_time > self._clock() + self._skew:
            raise InvalidToken("the token's auth_time is in the future")


def _header(token: str) -> Mapping[str, Any]:
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is malformed") from None
    algorithm = header.get("alg")
    if algorithm != ALGORITHM:
        shown = (
            repr(algorithm)
            if isinstance(algorithm, str) and _SHOWN_ALGORITHM.fullmatch(algorithm)
            else "another"
        )
        raise InvalidToken(f"the token's algorithm must be {ALGORITHM}, got {shown}")
    return header


def _key_id(header: Mapping[str, Any]) -> str:
    key_id = header.get("kid")
    if not isinstance(key_id, str) or not key_id or len(key_id) > 128:
        raise InvalidToken("the token does not name its signing key (kid)")
    return key_id


def _reason(error: Exception) -> str:
    import jwt

    for kind, reason in _REFUSALS:
        if isinstance(error, getattr(jwt, kind)):
            return reason
    return "the token is not valid"
