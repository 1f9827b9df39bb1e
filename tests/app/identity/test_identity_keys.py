"""`RemoteKeys` against a real HTTP server standing in for Google's certificate endpoint.

The keys are fetched once and kept as long as Cache-Control says; a token naming an unknown
key cannot make requests fetch (one fetch at a time, at most one per interval); a failed
refresh keeps the keys held; with no keys at all a request gets KeysUnavailable.
"""

from __future__ import annotations

import threading

import pytest

from app.identity.errors import InvalidToken, KeysUnavailable
from app.identity.keys import RemoteKeys, max_age_seconds, parse_certificates
from tests.app.token_issuers import CertServer, TestIssuer


@pytest.fixture(scope="module")
def issuers():
    return TestIssuer("key-1"), TestIssuer("key-2")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(issuers):
    with CertServer([issuers[0]]).running() as running:
        yield running


def test_keys_are_fetched_once_and_kept_while_fresh(server, issuers):
    clock = Clock()
    keys = RemoteKeys(server.url, clock=clock)
    for _ in range(50):
        keys.key_for("key-1")
        clock.now += 10
    assert server.fetches == 1


def test_keys_are_fetched_again_when_the_cache_header_says_so(server):
    clock = Clock()
    server.cache_control = "public, max-age=600, must-revalidate"
    keys = RemoteKeys(server.url, clock=clock)
    keys.key_for("key-1")
    clock.now += 599
    keys.key_for("key-1")
    assert server.fetches == 1
    clock.now += 2
    keys.key_for("key-1")
    assert server.fetches == 2


def test_age_shortens_the_lifetime():
    assert max_age_seconds({"Cache-Control": "max-age=600", "Age": "500"}) == 100
    assert max_age_seconds({"cache-control": "public, max-age=19000"}) == 19000
    assert max_age_seconds({}) == 300  # none given: a short default
    assert max_age_seconds({"Cache-Control": "max-age=5"}) == 60  # never refetched per request


def test_unknown_key_ids_cannot_make_every_request_fetch(server, issuers):
    clock = Clock()
    keys = RemoteKeys(server.url, clock=clock, min_interval=30)
    keys.key_for("key-1")
    with pytest.raises(InvalidToken, match="kid"):
        keys.key_for("made-up")
    assert server.fetches == 1  # fetched a moment ago: no second fetch yet
    clock.now += 31
    for n in range(100):
        with pytest.raises(InvalidToken, match="kid"):
            keys.key_for(f"made-up-{n}")
    assert server.fetches == 2  # one refresh for the first unknown id, then rationed
    clock.now += 31
    with pytest.raises(InvalidToken):
        keys.key_for("made-up-again")
    assert server.fetches == 3


def test_concurrent_requests_share_one_fetch(server):
    keys = RemoteKeys(server.url)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def verify() -> None:
        barrier.wait()
        try:
            keys.key_for("key-1")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=verify) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and server.fetches == 1


def test_a_rotated_key_is_found_after_one_refresh(server, issuers):
    clock = Clock()
    keys = RemoteKeys(server.url, clock=clock, min_interval=30)
    keys.key_for("key-1")
    server.issuers = [issuers[0], issuers[1]]
    clock.now += 31
    assert keys.key_for("key-2") is not None
    assert server.fetches == 2


def test_no_keys_at_all_is_unavailable_and_rationed(server):
    server.status = 500
    clock = Clock()
    keys = RemoteKeys(server.url, clock=clock, min_interval=30)
    for _ in range(5):
        with pytest.raises(KeysUnavailable):
            keys.key_for("key-1")
    assert server.fetches == 1
    server.status = 200
    clock.now += 31
    assert keys.key_for("key-1") is not None


def test_a_failed_refresh_keeps_the_keys_held_for_a_while(server):
    clock = Clock()
    keys = RemoteKeys(server.url, clock=clock, stale_limit=3600)
    keys.key_for("key-1")
    server.status = 503
    clock.now += 3600 + 60  # expired (max-age 3600), refresh fails
    assert keys.key_for("key-1") is not None
    clock.now += 3600
    with pytest.raises(KeysUnavailable):
        keys.key_for("key-1")


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"k": 3}', b'{"k": "not a cert"}', b"<html>"])
def test_a_bad_document_is_refused(body):
    with pytest.raises(ValueError):
        parse_certificates(body)
