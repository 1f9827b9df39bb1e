"""Delivers an inquiry's result to its callback URL: signed, idempotent, bounded, and never to
the platform itself.

Signature: `X-Signature: kid=<key id>,t=<unix seconds>,v1=<hex HMAC-SHA256>` over
"<t>\\n<Idempotency-Key>\\n<body>". The timestamp lets a receiver refuse replays, and the
inquiry id travels as `Idempotency-Key` (signed, so it cannot be swapped to make a replay look
new) so a receiver drops the rare second delivery after a worker crash between sending and
recording. `kid` names the key (`key_id`: derived from the key, nothing to configure), so the
key can rotate: the receiver accepts the old and the new key while the new one rolls out.

Where it connects: the URL is checked again against the allowed hosts (the rule
of app/domain/callback_url.py; the allow-list may have shrunk since the inquiry was opened).
The host is resolved once and every address is checked before connecting to it: loopback, private,
link-local, CGNAT, unique-local IPv6 and metadata addresses are refused, so a name that
resolves (or rebinds) to the platform's own network reaches nothing. TLS is verified against
the host name. No proxy, no redirect (a redirect could lead anywhere).

How long: one total deadline per callback, not per read (a receiver that sends one byte every
two seconds never trips a read timeout); when it passes, the callback's sockets are shut down
wherever they are blocked. The response body is never read: only the status counts, so a
400 MB answer costs nothing. Name resolution itself is not interruptible; it is bounded by
the system resolver's own timeouts.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
)

from app.config.settings import Settings, SettingsError
from app.domain.callback_url import CallbackUrlError, allowed_callback_url
from app.ports.messaging import CallbackOutcome

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_net = ipaddress.ip_network
# Checked in this order; the first that holds names the refusal.
REFUSED_NETWORKS: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("metadata", (_net("169.254.169.254/32"), _net("fd00:ec2::254/128"))),
    ("loopback", (_net("127.0.0.0/8"), _net("::1/128"))),
    ("private", (_net("10.0.0.0/8"), _net("172.16.0.0/12"), _net("192.168.0.0/16"))),
    ("link-local", (_net("169.254.0.0/16"), _net("fe80::/10"))),
    ("CGNAT", (_net("100.64.0.0/10"),)),
    ("unique-local", (_net("fc00::/7"),)),
)
_NAT64 = _net("64:ff9b::/96")
_IPV4_COMPATIBLE = _net("::/96")


# --- signing ---------------------------------------------------------------------------------


def key_id(key: str) -> str:
    """The name of a signing key: the first 16 hex digits of its SHA-256. It names the key
    without revealing it, and changes by itself when the key is rotated."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _digest(key: str, body: bytes, timestamp: int, idempotency_key: str) -> str:
    signed = f"{timestamp}\n{idempotency_key}\n".encode() + body
    return hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(key: str, body: bytes, timestamp: int, idempotency_key: str) -> str:
    """The `X-Signature` value of one callback."""
    digest = _digest(key, body, timestamp, idempotency_key)
    return f"kid={key_id(key)},t={timestamp},v1={digest}"


def verify(
    keys: str | Iterable[str],
    body: bytes,
    header: str,
    idempotency_key: str,
    now: float,
    tolerance_seconds: int = 300,
) -> bool:
    """What a receiver runs: the header names one of `keys` (both, during a rotation), its
    signature matches the body and Idempotency-Key, and it is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        kid, timestamp, given = fields["kid"], int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    for key in [keys] if isinstance(keys, str) else keys:
        if key and hmac.compare_digest(key_id(key), kid):
            return hmac.compare_digest(_digest(key, body, timestamp, idempotency_key), given)
    return False


# --- where a callback may connect ------------------------------------------------------------


def address_refusal(address: IPAddress, allow_loopback: bool = False) -> str | None:
    """Why a callback must not connect to `address` (None: it may). An IPv6 address that
    carries an IPv4 one (mapped, NAT64, 6to4, compatible) is judged by the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    for reason, networks in REFUSED_NETWORKS:
        if any(address in network for network in networks):
            return None if reason == "loopback" and allow_loopback else reason
    if address.is_multicast or not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class ForbiddenAddress(Exception):
    """The callback's host resolved to no address a callback may reach. Deliberately not an
    OSError, so that urllib3 and requests pass it through unchanged."""


class _Deadline:
    """One callback's total time. When it is up, every socket the callback opened is shut
    down, which ends a blocked TLS handshake, send or read at once."""

    _local = threading.local()

    def __init__(self, seconds: float | None) -> None:
        self.expires_at = time.monotonic() + seconds if seconds else math.inf
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire) if seconds else None

    @classmethod
    def current(cls) -> _Deadline:
        """The deadline of the callback this thread is sending (unbounded outside one)."""
        return getattr(cls._local, "deadline", None) or _Deadline(None)

    def remaining(self, at_most: Any = None) -> float:
        left = max(self.expires_at - time.monotonic(), 0.001)
        return min(left, at_most) if isinstance(at_most, int | float) else left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shut_down(sock)
            else:
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)

    def __enter__(self) -> _Deadline:
        self._local.deadline = self
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._local.deadline = None
        with self._lock:
            self._sockets.clear()


def _shut_down(sock: socket.socket) -> None:
    # The plain socket method, also for a TLS socket: it acts on the file descriptor only and
    # leaves the TLS state (in use by the sending thread) alone.
    with contextlib.suppress(OSError):  # not connected yet, or already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _CheckedConnection(HTTPSConnection):
    """Resolves the host once, connects only to an address that passes `address_refusal`,
    and verifies TLS against the host name (SNI and certificate, as usual)."""

    allow_loopback = False

    def _new_conn(self) -> socket.socket:
        deadline = _Deadline.current()
        try:
            found = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        refused: list[str] = []
        error: OSError | None = None
        for family, kind, proto, _, address in found:
            reason = address_refusal(ipaddress.ip_address(address[0]), self.allow_loopback)
            if reason:
                refused.append(f"{address[0]} ({reason})")
                continue
            sock = socket.socket(family, kind, proto)
            deadline.watch(sock)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(deadline.remaining(at_most=self.timeout))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        if error is None:
            raise ForbiddenAddress(f"{self.host} resolves to no allowed address: {refused}")
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from error
        raise NewConnectionError(self, f"could not connect to {self.host}: {error}") from error

    def connect(self) -> None:
        super().connect()
        if self.sock is not None:
            _Deadline.current().watch(self.sock)


class _LoopbackAllowedConnection(_CheckedConnection):
    allow_loopback = True


class _CheckedPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedConnection


class _LoopbackAllowedPool(HTTPSConnectionPool):
    ConnectionCls = _LoopbackAllowedConnection


class _CheckedAdapter(HTTPAdapter):
    """An adapter for https only, whose connections are `_CheckedConnection`s."""

    def __init__(self, allow_loopback: bool) -> None:
        self.pool_class = _LoopbackAllowedPool if allow_loopback else _CheckedPool
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"https": self.pool_class}


# --- the sender ------------------------------------------------------------------------------


class HttpCallbackSender:
    """Implements `app.ports.messaging.CallbackSender` with requests' adapter, without a session (no
    proxies, .netrc or cookies from the environment)."""

    def __init__(
        self,
        signing_key: str,
        allowed_hosts: tuple[str, ...],
        *,
        connect_timeout: float = 3.05,
        deadline_seconds: float = 10.0,
        allow_loopback: bool = False,
        ca_bundle: str | None = None,
    ) -> None:
        if not signing_key:
            raise ValueError("CALLBACK_SIGNING_KEY: required to send callbacks")
        self.key = signing_key
        self.allowed_hosts = allowed_hosts
        self.connect_timeout = connect_timeout
        self.deadline_seconds = deadline_seconds
        self.verify: bool | str = ca_bundle or True
        self.adapter = _CheckedAdapter(allow_loopback)

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> HttpCallbackSender:
        """The sender the settings ask for. REQUESTS_CA_BUNDLE is honoured as requests does;
        the loopback allowance is refused on Cloud Run (K_SERVICE set)."""
        environ = os.environ if environ is None else environ
        if settings.callback_loopback_allowed_for_tests and environ.get("K_SERVICE"):
            raise SettingsError(
                "CALLBACK_LOOPBACK_ALLOWED_FOR_TESTS: must be false on Cloud Run (K_SERVICE is set)"
            )
        return cls(
            settings.callback_signing_key or "",
            settings.callback_allowed_hosts,
            allow_loopback=settings.callback_loopback_allowed_for_tests,
            ca_bundle=environ.get("REQUESTS_CA_BUNDLE") or None,
        )

    def send(self, url: str, payload: dict[str, Any], idempotency_key: str) -> CallbackOutcome:
        try:
            target = allowed_callback_url(url, self.allowed_hosts)
        except CallbackUrlError as exc:
            log.error("callback not sent: %s", exc)
            return CallbackOutcome.REJECTED
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        request = requests.PreparedRequest()
        request.prepare(
            method="POST",
            url=target,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self.key, body, int(time.time()), idempotency_key),
                IDEMPOTENCY_HEADER: idempotency_key,
                "User-Agent": "agent-platform-blueprint-callback/1",
            },
            data=body,
        )
        with _Deadline(self.deadline_seconds) as deadline:
            try:
                response = self.adapter.send(
                    request,
                    stream=True,  # the body is never read
                    timeout=(self.connect_timeout, self.deadline_seconds),
                    verify=self.verify,
                )
            except ForbiddenAddress as exc:
                log.error("callback not sent: %s", exc)
                return CallbackOutcome.REJECTED
            except (requests.RequestException, HTTPError, OSError) as exc:
                reason = "deadline passed" if deadline.expired else type(exc).__name__
                log.warning("callback failed, will retry: %s", reason)
                return CallbackOutcome.RETRY
            status = response.status_code
            response.close()  # closes its connection too: none outlives its deadline
        if 200 <= status < 300:
            return CallbackOutcome.DELIVERED
        if status in RETRYABLE_STATUSES:
            return CallbackOutcome.RETRY
        return CallbackOutcome.REJECTED

    def close(self) -> None:
        self.adapter.close()
