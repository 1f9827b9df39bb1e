"""The worker's request scan hands a thread exactly the requests gunicorn can parse unblocked.

The worker (app/server/buffering_worker.py) gives a request to a thread once `RequestScan` says
READY; the thread's gunicorn parser then reads only those bytes. So READY must mean "gunicorn
needs no byte more" (else a thread waits on the client again), and INCOMPLETE must mean
"gunicorn would need more" (else a well-formed request waits for bytes that never come, until
its 408). Each case is checked against gunicorn's own parser, fed exactly the buffered bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from app.server.request_scan import RequestScan, Verdict

BODY = b'{"query": "where is my parcel", "top_k": 3}'
LIMIT = 1024
HEADER_LIMIT = 8192


def post(*headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    head = b"POST /v1/faq/search?x=1 " + version + b"\r\nHost: api\r\n"
    return head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def chunked(*chunks: bytes, trailers: bytes = b"") -> bytes:
    framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    return post(b"Transfer-Encoding: chunked", body=framed + b"0\r\n" + trailers + b"\r\n")


WHOLE = {
    "length": post(b"Content-Type: application/json", b"Content-Length: %d" % len(BODY), body=BODY),
    "no body": b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n",
    "empty line first": b"\r\nGET /healthz HTTP/1.1\r\nHost: api\r\n\r\n",
    "zero length": post(b"Content-Length: 0"),
    "chunked": chunked(BODY[:10], BODY[10:]),
    "chunked with trailers": chunked(BODY, trailers=b"X-Sum: 1\r\nX-More: 2\r\n"),
    "gzip then chunked": post(b"Transfer-Encoding: gzip, chunked", body=b"3\r\nabc\r\n0\r\n\r\n"),
    "http/1.0": post(b"Content-Length: 2", body=b"{}", version=b"HTTP/1.0"),
}


def scan_growing(data: bytes, step: int = 1) -> list[Verdict]:
    """The verdicts as the bytes arrive `step` at a time, as the worker's loop sees them."""
    scan, buffer, verdicts = RequestScan(LIMIT, HEADER_LIMIT), bytearray(), []
    for start in range(0, len(data), step):
        buffer += data[start : start + step]
        verdicts.append(scan.scan(buffer))
    return verdicts


class WantsMore(Exception):
    """gunicorn asked for bytes beyond the buffer: on a socket, its thread would wait here."""


def _source(data: bytes) -> Iterator[bytes]:
    yield data
    raise WantsMore


def gunicorn_reads(data: bytes) -> bytes:
    """The body gunicorn's parser reads, request and body, given exactly `data`."""
    request = next(RequestParser(Config(), _source(data), ("127.0.0.1", 1)))
    return request.body.read()


@pytest.mark.parametrize("name", WHOLE)
def test_a_whole_request_is_ready_at_its_last_byte_and_not_before(name):
    data = WHOLE[name]
    verdicts = scan_growing(data)
    assert verdicts[-1] is Verdict.READY
    assert set(verdicts[:-1]) <= {Verdict.INCOMPLETE}, verdicts.index(Verdict.READY)
    gunicorn_reads(data)  # gunicorn parses it from these bytes alone
    with pytest.raises(WantsMore):
        gunicorn_reads(data[:-1])  # and one byte fewer would leave it waiting


def test_bytes_arriving_in_larger_pieces_give_the_same_answer():
    for data in WHOLE.values():
        assert scan_growing(data, step=7)[-1] is Verdict.READY
        assert RequestScan(LIMIT, HEADER_LIMIT).scan(bytearray(data)) is Verdict.READY


def test_a_request_followed_by_the_next_one_is_ready_with_the_rest_left_for_later():
    first = WHOLE["length"]
    data = bytearray(first + b"GET /healthz HTTP/1.1\r\n")
    assert RequestScan(LIMIT, HEADER_LIMIT).scan(data) is Verdict.READY


@pytest.mark.parametrize(
    "data",
    [
        post(b"Content-Length: 4", b"Content-Length: 5", body=b"abcd"),
        post(b"Content-Length: +4", body=b"abcd"),
        post(b"Content-Length: 4", b"Transfer-Encoding: chunked", body=b"abcd"),
        post(b"Transfer-Encoding: gzip", body=b"abcd"),
        post(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"),
        post(b"Transfer-Encoding: br, chunked", body=b"0\r\n\r\n"),
        post(b"Transfer-Encoding: chunked", body=b"0\r\n\r\n", version=b"HTTP/1.0"),
        post(b"Transfer-Encoding: chunked", body=b"zz\r\nabc"),
    ],
    ids=[
        "two lengths",
        "signed length",
        "length and chunked",
        "no chunked",
        "chunked twice",
        "unknown coding",
        "chunked in 1.0",
        "bad chunk size",
    ],
)
def test_framing_gunicorn_refuses_goes_to_gunicorn_at_once_and_it_refuses_unread(data):
    """gunicorn answers these 400/501 from the headers: the thread reads no body."""
    assert RequestScan(LIMIT, HEADER_LIMIT).scan(bytearray(data)) is Verdict.READY
    with pytest.raises(Exception) as refused:
        gunicorn_reads(data)
    assert not isinstance(refused.value, WantsMore)


def test_a_declared_body_over_the_limit_is_too_large_before_any_of_it_arrives():
    data = post(b"Content-Length: %d" % (LIMIT + 1))
    assert RequestScan(LIMIT, HEADER_LIMIT).scan(bytearray(data)) is Verdict.TOO_LARGE


def test_a_chunked_body_is_too_large_once_its_chunks_pass_the_limit():
    data = chunked(b"x" * 600, b"y" * 600)
    verdicts = [v for v in scan_growing(data, step=100) if v is not Verdict.INCOMPLETE]
    assert verdicts[0] is Verdict.TOO_LARGE  # the worker answers 413 there and reads no more


def test_headers_that_never_end_are_too_large_past_gunicorns_own_limit():
    data = b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * (HEADER_LIMIT + 10)
    assert RequestScan(LIMIT, HEADER_LIMIT).scan(bytearray(data)) is Verdict.HEADERS_TOO_LARGE


def test_a_chunk_size_line_that_never_ends_is_malformed():
    data = post(b"Transfer-Encoding: chunked", body=b"5;" + b"e" * 5000)
    assert RequestScan(LIMIT, HEADER_LIMIT).scan(bytearray(data)) is Verdict.MALFORMED


def test_expect_continue_is_noted_when_a_body_is_still_to_come():
    headers = (b"Expect: 100-continue", b"Content-Length: %d" % len(BODY))
    scan = RequestScan(LIMIT, HEADER_LIMIT)
    assert scan.scan(bytearray(post(*headers))) is Verdict.INCOMPLETE
    assert scan.expect_continue
    assert scan.path == "/v1/faq/search"
    http10 = RequestScan(LIMIT, HEADER_LIMIT)
    http10.scan(bytearray(post(*headers, version=b"HTTP/1.0")))
    assert not http10.expect_continue  # RFC 9110 10.1.1: ignored in HTTP/1.0
