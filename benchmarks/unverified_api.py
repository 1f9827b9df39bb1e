"""The api with its token check replaced by a fixed caller: the floor of the auth figure.

Everything else is the production api (`app.api`): settings from the environment, logging,
services, the access gate; only the verifier, which checks the RS256 signature and the claims
of each request's token, answers the claims of customer `BENCH_CUSTOMER` without looking at the
token. Benchmarks only: it must never serve anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from app.config.settings import Settings
from app.http.entry import app_for_role
from app.identity.callers import Authenticator
from app.identity.setup import Identity, build_identity


class FixedClaims:
    """Stands where `TokenVerifier` stands; skips the work being measured."""

    def __init__(self, customer_id: str, audience: str) -> None:
        self.audience = audience
        self._claims = {"sub": f"bench-{customer_id}", "customer_id": customer_id}

    def verify(self, token: str) -> Mapping[str, Any]:
        return {**self._claims, "iat": int(time.time())}


def _identity() -> Identity:
    settings = Settings.from_env(agent_role="api")
    real = build_identity(settings)
    verifier = FixedClaims(
        os.environ.get("BENCH_CUSTOMER", "C002"), real.authenticator.verifier.audience
    )
    authenticator = Authenticator(
        verifier,  # type: ignore[arg-type]
        settings.auth_customer_claim,
        real.authenticator.pseudonyms,
    )
    return Identity(authenticator, real.local_issuer)


app = app_for_role("api", identity=_identity())
