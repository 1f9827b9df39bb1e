"""From an Authorization header to a `Caller`: who it is, which customer, whether staff.

The customer is a custom claim of the token (AUTH_CUSTOMER_CLAIM, set when an account is
linked to a customer record), never a field of a request body. Staff accounts carry
`role: staff`; a staff token is never a customer token, even with a customer claim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.identity.errors import InvalidToken, MissingToken
from app.identity.pseudonym import Pseudonyms
from app.identity.tokens import TokenVerifier

STAFF_ROLE = "staff"
# The shape of a customer id (as app.agents.sessions checks it); a claim of another shape is
# treated as no link at all.
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}")


@dataclass(frozen=True)
class Caller:
    """A verified caller. `pseudonym` is the only name of it that may be logged."""

    pseudonym: str
    customer_id: str | None  # None: the account is not linked to a customer
    is_staff: bool
    staff_id: str | None = None

    @property
    def is_customer(self) -> bool:
        return self.customer_id is not None and not self.is_staff


class Authenticator:
    """Verifies bearer tokens with one verifier and reads the caller out of the claims."""

    def __init__(
        self, verifier: TokenVerifier, customer_claim: str, pseudonyms: Pseudonyms
    ) -> None:
        self.verifier = verifier
        self.customer_claim = customer_claim
        self.pseudonyms = pseudonyms

    def caller(self, authorization: str | None) -> Caller:
        """The caller of a request with this Authorization header; InvalidToken otherwise."""
        return self.caller_of(self.verifier.verify(bearer_token(authorization)))

    def caller_of(self, claims: Mapping[str, Any]) -> Caller:
        is_staff = claims.get("role") == STAFF_ROLE
        customer = claims.get(self.customer_claim)
        staff_id = claims.get("staff_id")
        return Caller(
            pseudonym=self.pseudonyms.of(str(claims["sub"])),
            customer_id=customer
            if isinstance(customer, str) and _CUSTOMER_ID.fullmatch(customer)
            else None,
            is_staff=is_staff,
            staff_id=staff_id if is_staff and isinstance(staff_id, str) else None,
        )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization or not authorization.strip():
        raise MissingToken("an Authorization: Bearer <ID token> header is required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("the Authorization header must use the Bearer scheme")
    if not token.strip():
        raise InvalidToken("the Authorization header has no token after Bearer")
    return token.strip()
