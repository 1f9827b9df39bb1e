"""A stand-in for Identity Platform's token issuer, for the production path offline.

`TestIssuer` holds an RSA key with a self-signed certificate and signs tokens shaped like
Identity Platform's (`iss` https://securetoken.google.com/<project>, `aud` the project).
`CertServer` serves issuers' certificates over local HTTP in the format of Google's
securetoken endpoint (`{"<kid>": "<PEM certificate>"}`) with a Cache-Control header, counting
the fetches, so `RemoteKeys` and its caching are exercised against a real HTTP server.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SECURETOKEN = "https://securetoken.google.com/"


class TestIssuer:
    """An RSA key with a certificate; signs Identity Platform-shaped tokens."""

    __test__ = False  # not a pytest test class

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
        now = dt.datetime.now(dt.UTC)
        self.certificate_pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .sign(self.private_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode("ascii")
        )

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, project: str, subject: str = "uid-123", **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": SECURETOKEN + project,
            "aud": project,
            "sub": subject,
            "user_id": subject,
            "iat": now,
            "exp": now + 3600,
            "auth_time": now - 60,
            "email": "someone@example.com",
            "firebase": {"sign_in_provider": "password"},
        }
        claims.update(extra)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": self.key_id, **headers}
        )

    def token(self, project: str, subject: str = "uid-123", **extra: Any) -> str:
        return self.sign(self.claims(project, subject, **extra))


class CertServer:
    """Serves the certificates of the issuers in `issuers` (change the list to rotate)."""

    def __init__(self, issuers: list[TestIssuer], cache_control: str = "max-age=3600") -> None:
        self.issuers = issuers
        self.cache_control = cache_control
        self.age: int | None = None
        self.status = 200
        self.fetches = 0
        self.url = ""
        self._lock = threading.Lock()

    def document(self) -> bytes:
        return json.dumps({i.key_id: i.certificate_pem for i in self.issuers}).encode()

    @contextmanager
    def running(self) -> Iterator[CertServer]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server API names it
                with server._lock:
                    server.fetches += 1
                body = server.document() if server.status == 200 else b"{}"
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", server.cache_control)
                if server.age is not None:
                    self.send_header("Age", str(server.age))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}/certs"
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
