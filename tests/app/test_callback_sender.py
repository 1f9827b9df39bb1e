"""The callback sender against a real local HTTP receiver: signed, idempotent, status-aware."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.adapters.http_callback import HttpCallbackSender, sign, verify
from app.ports import CallbackOutcome

KEY = "shared-secret"


class Receiver:
    """A tiny HTTP server that records requests and answers with a chosen status."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sender():
    s = HttpCallbackSender(KEY, connect_timeout=2, read_timeout=2)
    yield s
    s.close()


def test_the_callback_is_signed_and_carries_the_idempotency_key(receiver, sender):
    payload = {"id": "inq-1", "status": "succeeded", "result": {"decision": "approved"}}
    assert sender.send(receiver.url, payload, "inq-1") is CallbackOutcome.DELIVERED
    [request] = receiver.requests
    headers = request["headers"]
    assert headers["Idempotency-Key"] == "inq-1"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == payload
    # A receiver verifies the signature with nothing but the shared key and the raw body.
    assert verify(KEY, request["body"], headers["X-Signature"], now=time.time())
    timestamp = headers["X-Signature"].split(",")[0].removeprefix("t=")
    expected = hmac.new(KEY.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256)
    assert headers["X-Signature"].endswith(f"v1={expected.hexdigest()}")


def test_a_tampered_body_wrong_key_or_old_signature_does_not_verify():
    body = b'{"id":"inq-1"}'
    header = sign(KEY, body, 1_700_000_000)
    assert verify(KEY, body, header, now=1_700_000_010)
    assert not verify(KEY, b'{"id":"inq-2"}', header, now=1_700_000_010)
    assert not verify("other-key", body, header, now=1_700_000_010)
    assert not verify(KEY, body, header, now=1_700_000_000 + 301)  # a replay, too late
    assert not verify(KEY, body, "garbage", now=1_700_000_000)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (204, CallbackOutcome.DELIVERED),
        (429, CallbackOutcome.RETRY),
        (500, CallbackOutcome.RETRY),
        (503, CallbackOutcome.RETRY),
        (400, CallbackOutcome.REJECTED),
        (404, CallbackOutcome.REJECTED),
    ],
)
def test_the_receivers_status_decides_whether_to_retry(receiver, sender, status, outcome):
    receiver.status = status
    assert sender.send(receiver.url, {"id": "x"}, "x") is outcome


def test_redirects_are_not_followed(receiver, sender):
    receiver.status = 302
    receiver.headers = {"Location": "http://169.254.169.254/computeMetadata/v1/"}
    assert sender.send(receiver.url, {"id": "x"}, "x") is CallbackOutcome.REJECTED
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_retried_later(sender):
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nothing listens on the port any more
    assert sender.send(url, {"id": "x"}, "x") is CallbackOutcome.RETRY


def test_the_sender_needs_a_key():
    with pytest.raises(ValueError, match="CALLBACK_SIGNING_KEY"):
        HttpCallbackSender("")
