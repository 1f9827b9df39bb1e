"""The authenticator the settings ask for, refusing settings that would open the api.

AUTH_MODE=identity_platform: Identity Platform's ID tokens for the project AUTH_PROJECT_ID
(default GOOGLE_CLOUD_PROJECT), keys from Google's published certificates.
AUTH_MODE=local: the local issuer's key in DATA_DIR; never on Cloud Run (K_SERVICE set), where
anyone could mint a token through `/dev/token`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config.settings import Settings, SettingsError
from app.identity.callers import Authenticator
from app.identity.keys import RemoteKeys
from app.identity.pseudonym import Pseudonyms
from app.identity.tokens import TokenVerifier

if TYPE_CHECKING:  # the local issuer (PyJWT, cryptography) is imported in local mode only
    from app.identity.local_issuer import LocalIssuer

SECURETOKEN_ISSUER = "https://securetoken.google.com/"


@dataclass(frozen=True)
class Identity:
    """How the api authenticates; `local_issuer` is set in local mode only."""

    authenticator: Authenticator
    local_issuer: LocalIssuer | None = None


def identity_platform_project(settings: Settings) -> str:
    """The project whose Identity Platform tokens are accepted (their audience)."""
    project = settings.auth_project_id or settings.google_cloud_project
    if not project:
        raise SettingsError(
            "AUTH_PROJECT_ID: required with AUTH_MODE=identity_platform (or set"
            " GOOGLE_CLOUD_PROJECT); on a laptop use AUTH_MODE=local"
        )
    return project


def build_identity(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    remote_keys: RemoteKeys | None = None,
) -> Identity:
    """The api's identity from its settings; `remote_keys` replaces Google's key endpoint."""
    environ = os.environ if environ is None else environ
    if settings.auth_mode == "local":
        if environ.get("K_SERVICE"):
            raise SettingsError(
                "AUTH_MODE: must be identity_platform on Cloud Run (K_SERVICE is set): local"
                " mode lets anyone mint a token"
            )
        from app.identity.local_issuer import LocalIssuer, LocalKeyError

        try:
            issuer = LocalIssuer.load_or_create(settings.data_dir, settings.auth_customer_claim)
        except LocalKeyError as error:
            raise SettingsError(f"AUTH_MODE=local: {error}") from None
        verifier = issuer.verifier()
        return Identity(_authenticator(settings, verifier), issuer)
    project = identity_platform_project(settings)
    verifier = TokenVerifier(remote_keys or RemoteKeys(), SECURETOKEN_ISSUER + project, project)
    return Identity(_authenticator(settings, verifier))


def _authenticator(settings: Settings, verifier: TokenVerifier) -> Authenticator:
    pseudonyms = Pseudonyms.for_audience(settings.log_pseudonym_key, verifier.audience)
    return Authenticator(verifier, settings.auth_customer_claim, pseudonyms)
