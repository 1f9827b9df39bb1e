"""Has one HTTP/1.x request arrived whole? Read from its framing alone, as bytes come in.

The buffering worker (app/server/buffering_worker.py) hands a request to a thread only once
`RequestScan` says it is READY; a test holds the scan to gunicorn's own parser, byte for byte.
"""

from __future__ import annotations

import enum

MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions


class Verdict(enum.Enum):
    """What the loop does with a connection after reading what has arrived."""

    INCOMPLETE = "wait for more"
    READY = "hand to a thread"  # whole, or framed so that gunicorn refuses it unread
    TOO_LARGE = "413"
    HEADERS_TOO_LARGE = "431"
    MALFORMED = "400"


_CODINGS = {b"chunked", b"identity", b"gzip", b"deflate", b"compress"}
_HEX = frozenset(b"0123456789abcdefABCDEF")


class RequestScan:
    """Has one HTTP/1.x request arrived whole? A scan of a growing buffer that resumes.

    It reads only the framing (Content-Length, Transfer-Encoding, Expect) and follows gunicorn's
    own rules for it: a request is READY when every byte gunicorn's parser will read is in the
    buffer, so a thread never waits on the client. When the framing is one that gunicorn refuses
    (two lengths, a coding it does not know, chunked with a length) it is READY as soon as the
    headers are, because gunicorn answers 400 or 501 before reading a body.
    """

    def __init__(self, body_limit: int, header_limit: int) -> None:
        self.body_limit = body_limit
        self.header_limit = header_limit
        self.path: str | None = None
        self.expect_continue = False
        self._head_end = -1
        self._searched = 0
        self._end = 0  # a request of known length ends here
        self._chunked = False
        self._pos = 0  # chunked: where the next chunk-size line, chunk or trailer line starts
        self._chunk = -1  # chunked: the size of the chunk at _pos, -1 for a size line
        self._trailers = -1  # chunked: where the trailer section starts, once the last chunk came
        self._body = 0

    def scan(self, data: bytearray) -> Verdict:
        if self._head_end < 0:
            verdict = self._scan_head(data)
            if verdict is not None:
                return verdict
        if not self._chunked:
            return Verdict.READY if len(data) >= self._end else Verdict.INCOMPLETE
        return self._scan_chunks(data)

    def _scan_head(self, data: bytearray) -> Verdict | None:
        start = 2 if data.startswith(b"\r\n") else 0  # RFC 9112 2.2: one empty line may lead
        end = data.find(b"\r\n\r\n", max(start, self._searched - 3))
        if end < 0:
            self._searched = len(data)
            too_long = len(data) - start > self.header_limit
            return Verdict.HEADERS_TOO_LARGE if too_long else Verdict.INCOMPLETE
        self._head_end = end + 4
        lines = bytes(data[start:end]).split(b"\r\n")
        target = lines[0].split(b" ")
        if len(target) == 3:
            self.path = target[1].split(b"?", 1)[0].decode("latin-1")
        http10 = lines[0].endswith(b"HTTP/1.0")
        lengths: list[bytes] = []
        codings: list[bytes] = []
        expect = False
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings += [coding.strip(b" \t").lower() for coding in value.split(b",")]
            elif name == b"expect":
                expect = value.strip().lower() == b"100-continue"
        if codings:
            refused = (
                codings[-1] != b"chunked"
                or codings.count(b"chunked") != 1
                or not _CODINGS.issuperset(codings)
                or bool(lengths)
                or http10
            )
            if refused:
                return Verdict.READY
            self._chunked = True
            self._pos = self._head_end
        elif lengths:
            if len(lengths) > 1 or not lengths[0].isdigit():
                return Verdict.READY
            length = int(lengths[0])
            if length > self.body_limit:
                return Verdict.TOO_LARGE
            self._end = self._head_end + length
        else:
            self._end = self._head_end
        self.expect_continue = expect and not http10 and (self._chunked or self._end > end + 4)
        return None

    def _scan_chunks(self, data: bytearray) -> Verdict:
        while True:
            if self._chunk >= 0:  # the chunk's bytes and their CRLF
                if len(data) < self._pos + self._chunk + 2:
                    return Verdict.INCOMPLETE
                self._pos += self._chunk + 2
                self._chunk = -1
                continue
            line_end = data.find(b"\r\n", self._pos)
            if line_end < 0:
                if len(data) - self._pos > MAX_CHUNK_LINE:
                    return Verdict.MALFORMED
                return Verdict.INCOMPLETE
            line = bytes(data[self._pos : line_end])
            self._pos = line_end + 2
            if self._trailers >= 0:
                if not line:
                    return Verdict.READY
                if self._pos - self._trailers > self.header_limit:
                    return Verdict.HEADERS_TOO_LARGE
                continue
            size = line.split(b";", 1)[0].strip(b" \t")
            if not size or not _HEX.issuperset(size):
                return Verdict.READY  # gunicorn refuses the chunk size with every byte it needs
            chunk = int(size, 16)
            if chunk == 0:
                self._trailers = self._pos
                continue
            self._body += chunk
            if self._body > self.body_limit:
                return Verdict.TOO_LARGE
            self._chunk = chunk
