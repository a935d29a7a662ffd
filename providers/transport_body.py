"""HTTP/1.1 response framing for the lean transport: the status line, headers and body readers.

Reading goes through the connection's C-implemented BufferedReader (`readline`, `read1`), so a
response costs a handful of Python calls. Bodies are delimited by Content-Length, chunked
transfer coding or connection close (RFC 9112 §6.3); `read1` hands over whatever has arrived, so
a streamed SSE event reaches the caller as soon as its bytes do.
"""
from __future__ import annotations

import zlib
from typing import Callable, Iterator

from requests.exceptions import (ChunkedEncodingError, ConnectionError, ContentDecodingError, ReadTimeout,
                                 RequestException)
from requests.structures import CaseInsensitiveDict

MAX_LINE = 65536
MAX_HEADERS = 128
READ_SIZE = 65536
DRAIN_MAX = 65536


class NoResponseError(ConnectionError):
    """The server closed the connection before sending a single byte of a response."""


def read_head(reader) -> tuple[int, str, CaseInsensitiveDict, bool]:
    """Status, reason, headers and keep-alive of the next final (non-1xx) response."""
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            raise NoResponseError("The server closed the connection without a response")
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ConnectionError("The server sent a malformed HTTP status line")
        headers = _read_headers(reader)
        status = int(code)
        if status >= 200 or status == 101:
            break                                   # 100 Continue and 103 Early Hints are skipped
    keep_alive = version == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    return status, reason.decode("latin-1"), headers, keep_alive


def _read_headers(reader) -> CaseInsensitiveDict:
    """Header fields up to the blank line; repeated fields are joined with ', ' as urllib3 does."""
    fields: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = reader.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            return CaseInsensitiveDict(fields)
        if not line.endswith(b"\n"):
            raise ConnectionError("The server sent a truncated or oversized header line")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            continue                                # obsolete line folding: ignored
        name, value = name.strip(), value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    raise ConnectionError("The server sent too many header fields")


class Body:
    """The body of one response; `stream()` is what requests' `iter_content` reads (as `raw`)."""

    def __init__(self, conn, *, length: int | None, chunked: bool, encoding: str,
                 on_complete: Callable[[], None]) -> None:
        self.conn = conn
        self.sock = conn.sock                       # for deadlines: switch the stall timeout, abort
        self.decoder = _decoder(encoding)
        self.on_complete = on_complete
        self.done = length == 0 and not chunked
        self.closed = False
        self._pieces = _frames(conn.reader, length, chunked)   # one framing reader, for stream() and close()
        if self.done:
            on_complete()

    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        """Yield the body as its bytes arrive, decoded; completes the exchange at the end."""
        if self.done or self.closed:
            return
        try:
            for piece in self._pieces:
                piece = self.decoder.decompress(piece) if self.decoder else piece
                if piece:
                    yield piece
        except GeneratorExit:
            raise                                   # the consumer stopped: close() decides
        except RequestException:
            self._drop()                            # framing errors (requests' errors are OSErrors)
            raise
        except zlib.error:
            self._drop()
            raise ContentDecodingError("The server sent a body that does not decompress") from None
        except TimeoutError:
            self._drop()
            raise ReadTimeout("The server stopped sending the response body in time") from None
        except OSError as exc:
            self._drop()
            raise ConnectionError(f"The connection failed while reading the body ({type(exc).__name__})") from None
        except BaseException:
            self._drop()                            # a greenlet killed mid-read: never reuse
            raise
        if self.decoder and (tail := self.decoder.flush()):
            yield tail
        self.done = True
        self.on_complete()

    def read_all(self) -> bytes:
        """The whole body."""
        return b"".join(self.stream())

    def isclosed(self) -> bool:
        """Finished or cut: nothing more will be read from the socket."""
        return self.done or self.closed

    def close(self) -> None:
        """Finish the body if its end has already arrived, else drop the connection.

        A stream's reader stops at its terminator event (`[DONE]`), just before the transfer
        coding's last chunk; reading that without waiting keeps the connection for reuse.
        """
        if self.done or self.closed:
            return
        if not self._finish_without_waiting():
            self._drop()

    def _drop(self) -> None:
        self.closed = True
        self.conn.close()

    def _finish_without_waiting(self) -> bool:
        """Read the rest of the body from what has arrived (at most DRAIN_MAX bytes); True if done."""
        if self.decoder is not None:
            return False
        try:
            self.sock.settimeout(0.0)
            drained = 0
            for piece in self._pieces:
                drained += len(piece)
                if drained > DRAIN_MAX:
                    return False
        except (OSError, ValueError, RequestException):
            return False                            # more is still to come, or it was malformed
        self.done = True
        self.on_complete()
        return True

    def release_conn(self) -> None:
        """requests calls this after close(); the pool already has the connection back if it was finished."""


def _frames(reader, length: int | None, chunked: bool) -> Iterator[bytes]:
    """The body's bytes as they arrive, by its framing (RFC 9112 §6.3)."""
    if chunked:
        return _chunked(reader)
    if length is None:
        return _until_close(reader)
    return _sized(reader, length)


def _sized(reader, length: int) -> Iterator[bytes]:
    while length:
        piece = reader.read1(min(length, READ_SIZE))
        if not piece:
            raise ChunkedEncodingError(f"The connection closed with {length} body bytes still to come")
        length -= len(piece)
        yield piece


def _until_close(reader) -> Iterator[bytes]:
    while piece := reader.read1(READ_SIZE):
        yield piece


def _chunked(reader) -> Iterator[bytes]:
    while True:
        line = reader.readline(1024)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not size_text:
            raise ChunkedEncodingError("The connection closed inside chunked framing")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ChunkedEncodingError("The server sent an invalid chunk size") from None
        if size == 0:
            _read_headers(reader)                   # trailer fields, then the final blank line
            return
        yield from _sized(reader, size)
        if reader.readline(3) not in (b"\r\n", b"\n"):
            raise ChunkedEncodingError("A chunk was not followed by CRLF")


def _decoder(encoding: str):
    """A streaming decompressor for gzip or deflate; None for identity or codings we cannot undo."""
    coding = encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj()
    return None
