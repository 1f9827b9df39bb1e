"""Callbacks cannot be turned against the platform (issue 13).

Each test names the hole it closes: a URL whose host two parsers read differently, a host that
resolves (or rebinds) to the platform's own network, a receiver that holds a worker thread or
its memory, and a signature that neither names its key nor covers the Idempotency-Key.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from app.adapters.http_callback import HttpCallbackSender, address_refusal, key_id, sign, verify
from app.agents.inquiries import check_callback_url
from app.config.settings import Settings, SettingsError
from app.domain.callback_url import CallbackUrlError, allowed_callback_url
from app.domain.errors import InvalidInput
from app.ports.messaging import CallbackOutcome
from tests.app.callback_receiver import (
    FakeDns,
    endless_body,
    https_receiver,
    trickle,
)

KEY = "callback-test-key"
ALLOWED = ("*.partner.example", "hooks.example.com", "hooks.example.com:8443")
README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns({})
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


# --- the URL: parsed once, by the library that sends ----------------------------------------


def test_the_backslash_url_of_the_issue_is_refused_where_requests_would_reach_attacker_tld():
    url = "https://attacker.tld\\.partner.example/cb"
    prepared = requests.Request("POST", url).prepare()
    assert prepared.url.startswith("https://attacker.tld/")  # where requests connects
    with pytest.raises(CallbackUrlError, match="backslashes"):
        allowed_callback_url(url, ALLOWED)
    with pytest.raises(InvalidInput) as caught:
        check_callback_url(url, ALLOWED, KEY)
    assert caught.value.field == "callback_url"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://x.partner.example /cb", "spaces"),
        ("https://x.partner.example/c\tb", "spaces"),
        ("https://x.partner.example/c\nb", "control"),
        ("https://x.partner.example/c\x00b", "control"),
        ("https://x.partner.example/c\x7fb", "control"),
        ("https://x.partner.example/caf\u00e9", "ASCII"),
        ("https://x.partner.example\u3002evil.example/", "ASCII"),  # ideographic full stop
        ("https://user@x.partner.example/cb", "user info"),
        ("https://user:pw@x.partner.example/cb", "user info"),
        ("https://@x.partner.example/cb", "user info"),
        ("https://x.partner.example%2f@evil.example/", "user info"),
        ("https://x.partner.example:8443/cb", "not allowed"),  # port not named for it
        ("https://hooks.example.com:9443/cb", "not allowed"),  # another port than named
        ("https://partner.example/cb", "not allowed"),  # a wildcard covers subdomains only
        ("https://hooks.example.com.evil.example/cb", "not allowed"),
        ("https://evil.example#@hooks.example.com/", "not allowed"),
        ("https://evil.example?@hooks.example.com/", "not allowed"),
        ("https://hooks.example.com./cb", "DNS name"),
        ("https://[::1]/cb", "DNS name"),
        ("https://127.0.0.1/cb", "DNS name"),
        ("http://hooks.example.com/cb", "https"),
        ("ftp://hooks.example.com/cb", "https"),
        ("https://hooks.example.com:99999/cb", "valid URL"),
        ("hooks.example.com/cb", "valid URL"),
    ],
)
def test_urls_outside_the_rule_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(CallbackUrlError, match=why):
        allowed_callback_url(url, ALLOWED)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://hooks.example.com/cb?x=1", "https://hooks.example.com/cb?x=1"),
        ("https://HOOKS.Example.com/cb", "https://hooks.example.com/cb"),
        ("https://hooks.example.com:443/cb", "https://hooks.example.com:443/cb"),
        ("https://hooks.example.com:8443/cb", "https://hooks.example.com:8443/cb"),
        ("https://a.b.partner.example", "https://a.b.partner.example/"),
        ('https://a.partner.example/"q"', "https://a.partner.example/%22q%22"),
    ],
)
def test_an_allowed_url_is_stored_as_requests_sends_it(url: str, sent: str) -> None:
    assert allowed_callback_url(url, ALLOWED) == sent
    assert allowed_callback_url(sent, ALLOWED) == sent  # checking it again changes nothing
    assert requests.Request("POST", sent).prepare().url == sent


def test_the_sender_checks_the_url_again_before_connecting(tmp_path, fake_dns: FakeDns) -> None:
    """An inquiry stored before this rule (or under a longer allow-list) is not sent."""
    fake_dns.answers["attacker.tld"] = [["127.0.0.1"]]
    sender = HttpCallbackSender(KEY, ALLOWED, allow_loopback=True)
    url = "https://attacker.tld\\.partner.example/cb"
    assert sender.send(url, {"id": "x"}, "x") is CallbackOutcome.REJECTED
    assert fake_dns.asked == []


# --- the address: checked where the connection goes ---------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.3.2.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("::a00:1", "private"),  # IPv4-compatible 10.0.0.1
        ("0.0.0.0", "not a public address"),
        ("::", "not a public address"),
        ("224.0.0.1", "not a public address"),
        ("192.0.2.1", "not a public address"),
    ],
)
def test_addresses_of_the_platform_are_refused(address: str, reason: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_loopback_allowance_opens_loopback_alone() -> None:
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_refusal(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "fd00::1"):
        assert address_refusal(ipaddress.ip_address(other), allow_loopback=True) is not None


def test_an_allowed_name_that_resolves_to_loopback_reaches_nothing(
    tmp_path, fake_dns: FakeDns
) -> None:
    with https_receiver(tmp_path, ("hooks.example.com",)) as receiver:
        fake_dns.answers["hooks.example.com"] = [["127.0.0.1"]]
        sender = receiver.sender(KEY, allow_loopback=False, host="hooks.example.com")
        outcome = sender.send(receiver.url("hooks.example.com"), {"id": "x"}, "x")
    assert outcome is CallbackOutcome.REJECTED
    assert receiver.requests == []


def test_a_name_that_resolves_to_metadata_is_refused_even_with_loopback_allowed(
    fake_dns: FakeDns,
) -> None:
    fake_dns.answers["hooks.example.com"] = [["169.254.169.254", "10.0.0.7"]]
    sender = HttpCallbackSender(KEY, ALLOWED, allow_loopback=True, deadline_seconds=2)
    started = time.monotonic()
    outcome = sender.send("https://hooks.example.com/cb", {"id": "x"}, "x")
    assert outcome is CallbackOutcome.REJECTED
    assert time.monotonic() - started < 1  # refused before any connection attempt


def test_the_address_checked_is_the_address_connected_to(tmp_path, fake_dns: FakeDns) -> None:
    """DNS rebinding: the name answers loopback (allowed here) once, then the metadata server.
    A check that resolved apart from the connection would pass and then connect elsewhere; one
    resolution serves both, and the connection keeps the name for TLS and Host."""
    with https_receiver(tmp_path, ("hooks.example.com",)) as receiver:
        fake_dns.answers["hooks.example.com"] = [["127.0.0.1"], ["169.254.169.254"]]
        sender = receiver.sender(KEY, allow_loopback=True, host="hooks.example.com")
        outcome = sender.send(receiver.url("hooks.example.com"), {"id": "x"}, "x")
    assert outcome is CallbackOutcome.DELIVERED
    assert fake_dns.asked == ["hooks.example.com"]
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"hooks.example.com:{receiver.port}"


def test_tls_is_verified_against_the_name_not_the_address(tmp_path, fake_dns: FakeDns) -> None:
    with https_receiver(tmp_path, ("localhost",)) as receiver:  # not hooks.example.com
        fake_dns.answers["hooks.example.com"] = [["127.0.0.1"]]
        sender = receiver.sender(KEY, allow_loopback=True, host="hooks.example.com")
        outcome = sender.send(receiver.url("hooks.example.com"), {"id": "x"}, "x")
    assert outcome is CallbackOutcome.RETRY
    assert receiver.requests == []


def test_loopback_is_refused_by_default(tmp_path) -> None:
    with https_receiver(tmp_path) as receiver:
        sender = receiver.sender(KEY, allow_loopback=False)
        assert sender.send(receiver.url(), {"id": "x"}, "x") is CallbackOutcome.REJECTED
    assert receiver.requests == []


def test_the_loopback_allowance_is_a_setting_for_tests_refused_on_cloud_run(tmp_path) -> None:
    with https_receiver(tmp_path) as receiver:
        environ = {
            "CALLBACK_SIGNING_KEY": KEY,
            "CALLBACK_ALLOWED_HOSTS": receiver.allowed_host,
            "REQUESTS_CA_BUNDLE": str(receiver.cert),
        }
        allowed = {**environ, "CALLBACK_LOOPBACK_ALLOWED_FOR_TESTS": "true"}
        sender = HttpCallbackSender.from_settings(Settings.from_env(allowed), allowed)
        assert sender.send(receiver.url(), {"id": "x"}, "x") is CallbackOutcome.DELIVERED
        sender = HttpCallbackSender.from_settings(Settings.from_env(environ), environ)
        assert sender.send(receiver.url(), {"id": "x"}, "x") is CallbackOutcome.REJECTED
    assert len(receiver.requests) == 1
    with pytest.raises(SettingsError, match="CALLBACK_LOOPBACK_ALLOWED_FOR_TESTS: must be false"):
        HttpCallbackSender.from_settings(Settings.from_env(allowed), {"K_SERVICE": "worker"})


# --- time and memory: one deadline per callback, no body read ------------------------------


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_deadline(tmp_path) -> None:
    """One byte every 0.3 s never trips a 1 s read timeout; the 1 s deadline ends it."""
    status_line = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: " + b"z" * 40 + b"\r\n\r\n"
    with https_receiver(tmp_path) as receiver:
        receiver.answer = trickle(0.3, status_line)
        sender = receiver.sender(KEY, allow_loopback=True, deadline_seconds=1.0)
        started = time.monotonic()
        outcome = sender.send(receiver.url(), {"id": "x"}, "x")
        elapsed = time.monotonic() - started
    assert outcome is CallbackOutcome.RETRY
    assert elapsed < 2.5, f"the callback held its thread for {elapsed:.1f} s"


def test_a_huge_answer_is_not_read(tmp_path) -> None:
    with https_receiver(tmp_path) as receiver:
        receiver.answer = endless_body(receiver, 400 * 1024 * 1024)
        sender = receiver.sender(KEY, allow_loopback=True)
        started = time.monotonic()
        outcome = sender.send(receiver.url(), {"id": "x"}, "x")
        elapsed = time.monotonic() - started
        time.sleep(0.2)  # let the receiver notice the closed connection
    assert outcome is CallbackOutcome.DELIVERED
    assert elapsed < 2
    assert receiver.bytes_sent < 32 * 1024 * 1024, receiver.bytes_sent


# --- the signature: names its key, covers the Idempotency-Key -------------------------------


def test_the_signature_covers_the_idempotency_key() -> None:
    body = b'{"id":"inq-1"}'
    header = sign(KEY, body, 1_700_000_000, "inq-1")
    assert verify(KEY, body, header, "inq-1", now=1_700_000_000)
    assert not verify(KEY, body, header, "inq-2", now=1_700_000_000)


def test_the_key_can_rotate_with_both_keys_valid_at_the_receiver() -> None:
    old, new = "old-callback-key", "new-callback-key"
    body = b"{}"
    by_old, by_new = (sign(k, body, 1_700_000_000, "i") for k in (old, new))
    assert f"kid={key_id(old)}," in by_old and f"kid={key_id(new)}," in by_new
    assert key_id(old) != key_id(new)
    for header in (by_old, by_new):
        assert verify([old, new], body, header, "i", now=1_700_000_000)
    assert not verify([new], body, by_old, "i", now=1_700_000_000)  # the old key retired
    # A header naming a key the receiver does not hold fails, even with a matching digest.
    renamed = by_new.replace(key_id(new), key_id(old))
    assert not verify([old, new], body, renamed, "i", now=1_700_000_000)


def readme_receiver() -> dict[str, Any]:
    """The receiver example of the README, run as written."""
    text = README.read_text()
    found = re.search(r"<!-- callback-receiver -->\n```python\n(.*?)```", text, re.S)
    assert found, "README: the callback receiver example is missing"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md", "exec"), namespace)
    return namespace


def test_the_readme_receiver_verifies_a_real_callback(tmp_path) -> None:
    example = readme_receiver()
    verify_callback = example["verify_callback"]
    assert example["key_id"](KEY) == key_id(KEY)
    with https_receiver(tmp_path) as receiver:
        sender = receiver.sender(KEY, allow_loopback=True)
        assert sender.send(receiver.url(), {"id": "inq-9"}, "inq-9") is CallbackOutcome.DELIVERED
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    keys = {key_id(k): k for k in ("an-older-key", KEY)}
    assert verify_callback(headers, body, keys, time.time())
    assert not verify_callback(headers, body + b" ", keys, time.time())
    assert not verify_callback({**headers, "Idempotency-Key": "inq-8"}, body, keys, time.time())
    assert not verify_callback(headers, body, {key_id("x"): "x"}, time.time())
    assert not verify_callback(headers, body, keys, time.time() + 600)
