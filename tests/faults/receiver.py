"""A local HTTPS receiver for inquiry callbacks, as a customer's endpoint would be.

It serves https://localhost:<port>/ with a throwaway self-signed certificate (the worker trusts
it through REQUESTS_CA_BUNDLE), checks each callback's HMAC signature, and records every
delivery. Like the receiver the design asks for, it treats the Idempotency-Key as the identity
of a callback: `accepted` holds the first delivery of each key, `deliveries` every one.

`hold_at=n` makes the n-th delivery wait (without answering) until `release()`: a test can then
kill the worker while a callback is in flight, the worst moment for exactly-once.
"""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.adapters.http_callback import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify


def self_signed_cert(directory: Path, names: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path]:
    """A certificate for the host `names` (default localhost) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver-cert.pem", directory / "receiver-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Delivery:
    key: str
    path: str
    body: dict[str, Any]
    signature_ok: bool


@dataclass
class CallbackReceiver:
    signing_key: str
    hold_at: int | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> dict[str, Delivery]:
        """The first delivery of each Idempotency-Key: what an idempotent receiver acts on."""
        first: dict[str, Delivery] = {}
        with self._lock:
            for delivery in self.deliveries:
                first.setdefault(delivery.key, delivery)
        return first

    def record(self, delivery: Delivery) -> bool:
        """Record one delivery; True when this one is to be held."""
        with self._lock:
            self.deliveries.append(delivery)
            return self.hold_at is not None and len(self.deliveries) == self.hold_at

    def release(self) -> None:
        self._release.set()

    def wait_released(self, limit: float) -> None:
        self._release.wait(limit)


def _handler(receiver: CallbackReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get(SIGNATURE_HEADER, "")
            key = self.headers.get(IDEMPOTENCY_HEADER, "")
            delivery = Delivery(
                key=key,
                path=self.path,
                body=json.loads(raw or b"{}"),
                signature_ok=verify(receiver.signing_key, raw, signature, key, time.time()),
            )
            if receiver.record(delivery):
                receiver.held.set()
                receiver.wait_released(60)
            try:
                self.send_response(204)
                self.end_headers()
            except OSError:  # the sender was killed meanwhile
                pass

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class HttpsReceiverServer:
    """Runs a `CallbackReceiver` on https://localhost:<port> in a background thread."""

    def __init__(self, receiver: CallbackReceiver, workdir: Path) -> None:
        self.receiver = receiver
        self.cert_path, key_path = self_signed_cert(workdir)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def app_env(self) -> dict[str, str]:
        """What the api and worker need to call this receiver back: its host and port allowed,
        loopback allowed (test-only), and its certificate trusted."""
        return {
            "CALLBACK_ALLOWED_HOSTS": f"localhost:{self.port}",
            "CALLBACK_LOOPBACK_ALLOWED_FOR_TESTS": "true",
            "REQUESTS_CA_BUNDLE": str(self.cert_path),
        }

    def __enter__(self) -> HttpsReceiverServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.receiver.release()
        self.server.shutdown()
        self.server.server_close()
