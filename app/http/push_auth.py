"""Who may push to the worker: the OIDC token Pub/Sub attaches to each push request.

A verifier is a callable that takes the request's Authorization header and returns nothing when
the caller is the configured push service account, or raises `PushUnauthorized`. `create_app`
picks one from the settings; tests pass their own key set through `OidcPushVerifier`.
Every worker endpoint that Google calls as the push service account (Pub/Sub pushes, Cloud
Scheduler's housekeeping runs) checks it through `refuse_unless_push_identity`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, current_app, request

from app.config.settings import Settings, SettingsError
from app.http.problems import problem

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CERTS_CACHE_SECONDS = 300
CLOCK_SKEW_SECONDS = 10

logger = logging.getLogger("app.http.push_auth")
PushVerifier = Callable[[str | None], None]
CertsFetcher = Callable[[], Mapping[str, str]]


class PushUnauthorized(Exception):
    """The caller is not the push service account; the push endpoint answers 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refuse_unless_push_identity(realm: str) -> Response | None:
    """None when this request carries the push identity's token, else the 401 to answer.

    The one check for every worker endpoint that Google calls as the push service account:
    Pub/Sub pushes and Cloud Scheduler's housekeeping runs. The verifier is the app's
    (`create_app` stores it in `app.extensions["push_verifier"]`).
    """
    try:
        current_app.extensions["push_verifier"](request.headers.get("Authorization"))
    except PushUnauthorized as refused:
        logger.warning("%s refused: %s", realm, refused.reason)
        return problem(
            401,
            "A valid Google-signed OIDC token of the push service account is required",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
        )
    return None


def allow_unauthenticated(authorization: str | None) -> None:
    """For the Pub/Sub emulator only, which pushes without a token."""


def fetch_google_certs(url: str = GOOGLE_CERTS_URL, timeout: float = 5.0) -> Mapping[str, str]:
    """Google's current token-signing certificates: key id -> PEM certificate."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        certs: Mapping[str, str] = json.loads(response.read().decode("utf-8"))
        return certs


class OidcPushVerifier:
    """Checks signature, expiry, issuer, audience, email and email_verified of a push token.

    Google's certificates are cached for a few minutes and fetched again when a token names a
    key id the cache does not know (key rotation).
    """

    def __init__(
        self,
        audience: str | None,
        service_account: str | None,
        fetch_certs: CertsFetcher = fetch_google_certs,
        issuers: tuple[str, ...] = GOOGLE_ISSUERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.audience = audience
        self.service_account = service_account
        self.issuers = issuers
        self._fetch_certs = fetch_certs
        self._clock = clock
        self._certs: Mapping[str, str] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, authorization: str | None) -> None:
        if not self.audience or not self.service_account:
            raise PushUnauthorized("PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT are not configured")
        token = _bearer_token(authorization)
        claims = self._decode(token)
        if claims.get("iss") not in self.issuers:
            raise PushUnauthorized("token issuer is not Google")
        if claims.get("email") != self.service_account:
            raise PushUnauthorized("token is not from the push service account")
        if claims.get("email_verified") is not True:
            raise PushUnauthorized("token email is not verified")

    def _decode(self, token: str) -> Mapping[str, Any]:
        from google.auth import exceptions, jwt  # only the worker pays for this import

        # The library's functions carry no annotations: these are the types relied on here.
        decode_header: Callable[[str], Mapping[str, Any]] = jwt.decode_header
        decode: Callable[..., Mapping[str, Any]] = jwt.decode
        try:
            header = decode_header(token)
        except (ValueError, exceptions.GoogleAuthError):
            raise PushUnauthorized("token is malformed") from None
        certs = self._current_certs(str(header.get("kid") or ""))
        try:
            return decode(
                token,
                certs=certs,
                audience=self.audience,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except (ValueError, exceptions.GoogleAuthError) as error:
            raise PushUnauthorized(f"token is not valid ({_reason(error)})") from None

    def _current_certs(self, key_id: str) -> Mapping[str, str]:
        with self._lock:
            stale = self._clock() - self._fetched_at > CERTS_CACHE_SECONDS
            unknown_key = bool(key_id) and self._certs is not None and key_id not in self._certs
            if self._certs is None or stale or unknown_key:
                try:
                    self._certs = dict(self._fetch_certs())
                    self._fetched_at = self._clock()
                except Exception as error:
                    if self._certs is None:
                        raise PushUnauthorized(f"cannot fetch signing keys ({error})") from None
            return self._certs


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PushUnauthorized("missing bearer token")
    return token.strip()


def _reason(error: Exception) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def on_cloud_run(environ: Mapping[str, str] | None = None) -> bool:
    """Cloud Run sets K_SERVICE in every container it runs."""
    return bool((os.environ if environ is None else environ).get("K_SERVICE"))


def choose_push_verifier(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> PushVerifier:
    """The verifier the settings ask for; refuses settings that would open the worker.

    Verification can be off only for the emulator, and never on Cloud Run.
    """
    cloud_run = on_cloud_run(environ)
    if settings.push_auth_disabled_for_emulator:
        if cloud_run:
            raise SettingsError(
                "PUSH_AUTH_DISABLED_FOR_EMULATOR: must be false on Cloud Run (K_SERVICE is set)"
            )
        return allow_unauthenticated
    if cloud_run and settings.queue_backend == "pubsub":
        for name, value in (
            ("PUSH_AUDIENCE", settings.push_audience),
            ("PUSH_SERVICE_ACCOUNT", settings.push_service_account),
        ):
            if not value:
                raise SettingsError(f"{name}: must be set on a Cloud Run worker using Pub/Sub")
    return OidcPushVerifier(settings.push_audience, settings.push_service_account)
