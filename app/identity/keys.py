"""Where the public keys that sign ID tokens come from.

`StaticKeys`: a fixed set (the local issuer's one key). `RemoteKeys`: Identity Platform's
published certificates, fetched over HTTPS and kept for as long as the response's
`Cache-Control: max-age` (less its `Age`) says, so no request waits on a fetch while the keys
are fresh. Fetches are rationed: one at a time (other threads keep using the keys they have),
and at most one per `min_interval` seconds, so tokens naming made-up key ids cannot turn every
request into a fetch. A failed refresh keeps the keys already held, for up to `stale_limit`
after they expired; with no keys at all a request gets `KeysUnavailable` (503).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from app.identity.errors import InvalidToken, KeysUnavailable

if TYPE_CHECKING:  # cryptography is imported with the first keys fetched, not at start
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# Identity Platform (Firebase Auth) ID tokens are signed by these keys, published as X.509
# certificates by key id: https://firebase.google.com/docs/auth/admin/verify-id-tokens
IDENTITY_PLATFORM_CERTS_URL = (
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
)
FETCH_TIMEOUT_SECONDS = 5.0
MIN_FETCH_INTERVAL_SECONDS = 30.0
DEFAULT_MAX_AGE_SECONDS = 300.0  # when the response names none
MAX_AGE_BOUNDS = (60.0, 86_400.0)
STALE_LIMIT_SECONDS = 86_400.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)

log = logging.getLogger(__name__)

# (body, headers) of one GET of the key endpoint.
Fetcher = Callable[[str], tuple[bytes, Mapping[str, str]]]
UNKNOWN_KEY = "the token's signing key (kid) is not one of the issuer's keys"


class StaticKeys:
    """A fixed set of keys by key id."""

    def __init__(self, keys: Mapping[str, RSAPublicKey]) -> None:
        self._keys = dict(keys)

    def key_for(self, key_id: str) -> RSAPublicKey:
        key = self._keys.get(key_id)
        if key is None:
            raise InvalidToken(UNKNOWN_KEY)
        return key


def fetch_url(url: str) -> tuple[bytes, Mapping[str, str]]:
    """GET `url`: its body and headers (urllib raises on a non-2xx status)."""
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return response.read(), dict(response.headers.items())


def parse_certificates(body: bytes) -> dict[str, RSAPublicKey]:
    """`{"<kid>": "<PEM certificate>", ...}` -> RSA public keys by key id."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    document = json.loads(body.decode("utf-8"))
    if not isinstance(document, dict) or not document:
        raise ValueError("expected a JSON object of key id -> PEM certificate")
    keys: dict[str, RSAPublicKey] = {}
    for key_id, pem in document.items():
        if not isinstance(pem, str):
            raise ValueError(f"key {key_id!r}: expected a PEM certificate")
        public_key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
        if not isinstance(public_key, RSAPublicKey):
            raise ValueError(f"key {key_id!r}: not an RSA key")
        keys[key_id] = public_key
    return keys


def max_age_seconds(headers: Mapping[str, str]) -> float:
    """How long the response may be kept: max-age less Age, within MAX_AGE_BOUNDS."""
    lowered = {name.lower(): value for name, value in headers.items()}
    match = _MAX_AGE.search(lowered.get("cache-control", ""))
    seconds = float(match.group(1)) if match else DEFAULT_MAX_AGE_SECONDS
    age = lowered.get("age", "").strip()
    if age.isdigit():
        seconds -= float(age)
    low, high = MAX_AGE_BOUNDS
    return min(high, max(low, seconds))


class RemoteKeys:
    """Certificates fetched from `url`, cached by their HTTP cache headers."""

    def __init__(
        self,
        url: str = IDENTITY_PLATFORM_CERTS_URL,
        *,
        fetch: Fetcher = fetch_url,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = MIN_FETCH_INTERVAL_SECONDS,
        stale_limit: float = STALE_LIMIT_SECONDS,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._min_interval = min_interval
        self._stale_limit = stale_limit
        self._keys: dict[str, RSAPublicKey] | None = None
        self._expires_at = 0.0
        self._next_fetch_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0  # how many fetches were attempted (operators and tests read it)

    def key_for(self, key_id: str) -> RSAPublicKey:
        keys = self._keys
        if keys is None:
            self._refresh(wait=True)  # the first request: everyone needs these keys
        elif self._clock() >= self._expires_at:
            self._refresh(wait=False)  # whoever gets the lock refreshes; the rest go on
        elif key_id not in keys:
            self._refresh(wait=False)  # a new key published early, or a made-up kid
        keys = self._usable_keys()
        key = keys.get(key_id)
        if key is None:
            raise InvalidToken(UNKNOWN_KEY)
        return key

    def _usable_keys(self) -> dict[str, RSAPublicKey]:
        keys = self._keys
        if keys is None or self._clock() >= self._expires_at + self._stale_limit:
            raise KeysUnavailable(f"the token signing keys cannot be fetched from {self.url}")
        return keys

    def _refresh(self, *, wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return
        try:
            now = self._clock()
            if now < self._next_fetch_at:
                return  # rationed: someone fetched (or tried) a moment ago
            self._next_fetch_at = now + self._min_interval
            self.fetches += 1
            try:
                body, headers = self._fetch(self.url)
                keys = parse_certificates(body)
            except Exception as error:  # any failure: keep what we have, try again later
                log.warning("token signing keys not refreshed from %s: %s", self.url, error)
                return
            self._keys = keys
            self._expires_at = self._clock() + max_age_seconds(headers)
        finally:
            self._lock.release()
