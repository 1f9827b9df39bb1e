"""The callback sender against a real local HTTPS receiver: signed, idempotent, status-aware.

The receiver is on loopback, which the sender refuses unless told otherwise; these tests tell
it so (`allow_loopback=True`). What is refused by default is in test_callback_security.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest

from app.adapters.http_callback import HttpCallbackSender, key_id, sign, verify
from app.ports.messaging import CallbackOutcome
from tests.app.callback_receiver import Receiver, https_receiver, status

KEY = "shared-secret"


@pytest.fixture
def receiver(tmp_path) -> Iterator[Receiver]:
    with https_receiver(tmp_path) as r:
        yield r


@pytest.fixture
def sender(receiver: Receiver) -> Iterator[HttpCallbackSender]:
    s = receiver.sender(KEY, allow_loopback=True, connect_timeout=2, deadline_seconds=5)
    yield s
    s.close()


def test_the_callback_is_signed_and_carries_the_idempotency_key(receiver, sender):
    payload = {"id": "inq-1", "status": "succeeded", "result": {"decision": "approved"}}
    assert sender.send(receiver.url(), payload, "inq-1") is CallbackOutcome.DELIVERED
    [request] = receiver.requests
    headers = request["headers"]
    assert headers["Idempotency-Key"] == "inq-1"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == payload
    # A receiver verifies with the shared key, the raw body and the Idempotency-Key.
    assert verify(KEY, request["body"], headers["X-Signature"], "inq-1", now=time.time())
    fields = dict(part.split("=", 1) for part in headers["X-Signature"].split(","))
    assert fields["kid"] == key_id(KEY) == hashlib.sha256(KEY.encode()).hexdigest()[:16]
    signed = f"{fields['t']}\ninq-1\n".encode() + request["body"]
    assert fields["v1"] == hmac.new(KEY.encode(), signed, hashlib.sha256).hexdigest()


def test_a_tampered_body_wrong_key_or_old_signature_does_not_verify():
    body = b'{"id":"inq-1"}'
    header = sign(KEY, body, 1_700_000_000, "inq-1")
    assert verify(KEY, body, header, "inq-1", now=1_700_000_010)
    assert not verify(KEY, b'{"id":"inq-2"}', header, "inq-1", now=1_700_000_010)
    assert not verify("other-key", body, header, "inq-1", now=1_700_000_010)
    assert not verify(KEY, body, header, "inq-1", now=1_700_000_000 + 301)  # a replay, too late
    assert not verify(KEY, body, "garbage", "inq-1", now=1_700_000_000)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (204, CallbackOutcome.DELIVERED),
        (429, CallbackOutcome.RETRY),
        (500, CallbackOutcome.RETRY),
        (503, CallbackOutcome.RETRY),
        (400, CallbackOutcome.REJECTED),
        (404, CallbackOutcome.REJECTED),
    ],
)
def test_the_receivers_status_decides_whether_to_retry(receiver, sender, code, outcome):
    receiver.answer = status(code)
    assert sender.send(receiver.url(), {"id": "x"}, "x") is outcome


def test_redirects_are_not_followed(receiver, sender):
    receiver.answer = status(302, {"Location": "http://169.254.169.254/computeMetadata/v1/"})
    assert sender.send(receiver.url(), {"id": "x"}, "x") is CallbackOutcome.REJECTED
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_retried_later(tmp_path):
    with https_receiver(tmp_path) as gone:
        pass
    sender = HttpCallbackSender(KEY, (gone.allowed_host,), allow_loopback=True)
    assert sender.send(gone.url(), {"id": "x"}, "x") is CallbackOutcome.RETRY  # nothing listens


def test_the_sender_needs_a_key():
    with pytest.raises(ValueError, match="CALLBACK_SIGNING_KEY"):
        HttpCallbackSender("", ("hooks.example.com",))
