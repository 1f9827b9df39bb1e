"""AUTH_MODE=local: a token issuer of the api's own, for a laptop with no cloud account.

At its first start the api creates an RS256 key pair in DATA_DIR (`local-issuer-key.pem`, file
mode 0600) and trusts that key alone; `POST /dev/token` and `make token` mint tokens with it.
The tokens go through the same `TokenVerifier` as Identity Platform's, with this issuer and
audience, so every route is exercised exactly as in production. The app refuses this mode on
Cloud Run (app.identity.setup).

The key file is created atomically (written under a temporary name, then linked into place), so
two processes starting on one DATA_DIR end up with the same key, and one that is readable by
other users is refused rather than trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.identity.callers import STAFF_ROLE
from app.identity.keys import StaticKeys
from app.identity.tokens import ALGORITHM, TokenVerifier

LOCAL_ISSUER = "urn:agent-platform:local-issuer"
LOCAL_AUDIENCE = "agent-platform-local"
KEY_FILE = "local-issuer-key.pem"
TOKEN_SECONDS = 3600
KEY_BITS = 2048
DEMO_STAFF = ("S001", "S002", "S003")  # the support team members `/dev/token` signs in


class LocalKeyError(Exception):
    """The key file cannot be created or is not safe to trust; the message says how to fix it."""


class LocalIssuer:
    """Mints and verifies tokens with one RSA key pair."""

    def __init__(self, private_key: rsa.RSAPrivateKey, customer_claim: str) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.customer_claim = customer_claim
        spki = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = "local-" + hashlib.sha256(spki).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, data_dir: str | Path, customer_claim: str) -> LocalIssuer:
        """The issuer whose key is in `data_dir`, creating the key on first use."""
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            _create_key_file(path)
        return cls(_load_key(path), customer_claim)

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            StaticKeys({self.key_id: self.public_key}), LOCAL_ISSUER, LOCAL_AUDIENCE
        )

    def mint(
        self,
        *,
        customer_id: str | None = None,
        staff_id: str | None = None,
        lifetime: int = TOKEN_SECONDS,
    ) -> str:
        """A token for one demo customer or one staff member (exactly one of the two)."""
        if (customer_id is None) == (staff_id is None):
            raise ValueError("exactly one of customer_id and staff_id")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "iat": now,
            "exp": now + lifetime,
            "auth_time": now,
        }
        if customer_id is not None:
            claims["sub"] = f"local-customer-{customer_id}"
            claims[self.customer_claim] = customer_id
        else:
            claims["sub"] = f"local-staff-{staff_id}"
            claims["role"] = STAFF_ROLE
            claims["staff_id"] = staff_id
        return self.sign(claims)

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """Any claims, signed with this key (the tests build every kind of bad token with it)."""
        return jwt.encode(
            claims,
            self._private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.key_id, **(headers or {})},
        )


def _create_key_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LocalKeyError(f"DATA_DIR {str(path.parent)!r} cannot be created: {error}") from None
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # The link fails if another process published its key first: that key is the one.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except OSError as error:
        raise LocalKeyError(f"{path}: cannot write the local issuer's key: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        pem = path.read_bytes()
    except OSError as error:
        raise LocalKeyError(f"{path}: cannot read the local issuer's key: {error}") from None
    if mode & 0o077:
        raise LocalKeyError(
            f"{path}: mode {mode:04o} lets other users read the token signing key;"
            f" run `chmod 600 {path}` (or delete it to make a new key)"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        raise LocalKeyError(
            f"{path}: not a PEM private key; delete it and a new key is made at the next start"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise LocalKeyError(f"{path}: not an RSA key; delete it to make a new one")
    return key
