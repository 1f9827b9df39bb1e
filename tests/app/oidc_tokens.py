"""Locally minted Google-style OIDC tokens for the push endpoints' verification tests.

A throwaway RSA key with a self-signed certificate stands in for Google's signing keys (the
verifier is handed the certificates as Google's certs endpoint would publish them), so every
case (valid, expired, wrong audience, wrong email, bad signature) runs offline.
"""

from __future__ import annotations

import datetime as dt
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt


def key_and_cert() -> tuple[bytes, str]:
    """(PEM private key, PEM certificate of its public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


def mint(pem_key: bytes, key_id: str, audience: str, email: str, /, **claims: object) -> str:
    """A token as Pub/Sub or Cloud Scheduler sends it; `claims` override or add claims."""
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": audience,
        "email": email,
        "email_verified": True,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(crypt.RSASigner.from_string(pem_key, key_id=key_id), payload).decode()
