"""A raw-asyncio HTTP/1.1 streaming client: per-chunk arrival times, and many streams at once."""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CONTENT = re.compile(rb'"content": ?"[^"]')      # a delta with non-empty content


@dataclass
class StreamResult:
    """One streamed response as the client saw it (times in ms since the request was sent)."""

    status: int = 0
    ttfb_ms: float | None = None               # first response byte (status line)
    content_ms: list[float] = field(default_factory=list)   # each event carrying content
    events: int = 0
    done: bool = False                          # saw "data: [DONE]"
    error: str = ""
    started: float = 0.0                        # perf_counter at send / at the end
    ended: float = 0.0

    @property
    def ok(self) -> bool:
        """200, a [DONE] terminator and no transport error."""
        return self.status == 200 and self.done and not self.error


class ChunkedDecoder:
    """Incremental decoder of a chunked transfer-encoded body."""

    def __init__(self) -> None:
        """Start empty."""
        self.raw = bytearray()
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        """Add raw bytes; return the body bytes that became complete."""
        self.raw += data
        out = bytearray()
        while not self.finished:
            eol = self.raw.find(b"\r\n")
            if eol < 0:
                break
            size = int(bytes(self.raw[:eol]).split(b";")[0] or b"0", 16)
            if size == 0:
                self.finished = True
                break
            if len(self.raw) < eol + 4 + size:
                break
            out += self.raw[eol + 2:eol + 2 + size]
            del self.raw[:eol + 4 + size]
        return bytes(out)


def build_request(url: str, token: str, body: bytes) -> tuple[str, int, bytes]:
    """(host, port, request bytes) for a POST that closes the connection afterwards."""
    parts = urlsplit(url)
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return parts.hostname, parts.port, head.encode() + body


def _scan_events(buf: bytearray, res: StreamResult, now_ms: float, timed: bool) -> None:
    """Consume complete SSE events from buf and note content events and [DONE]."""
    while (end := buf.find(b"\n\n")) >= 0:
        event = bytes(buf[:end])
        del buf[:end + 2]
        if not event.startswith(b"data:"):
            continue
        res.events += 1
        if event.startswith(b"data: [DONE]"):
            res.done = True
        elif b'"error"' in event[:40]:
            res.error = res.error or "error event"
        elif timed and CONTENT.search(event):
            res.content_ms.append(now_ms)


async def _read_head(reader: asyncio.StreamReader, res: StreamResult, t0: float) -> tuple[bool, bytes]:
    """Read the status line and headers; returns (chunked, bytes read past the headers)."""
    data = await reader.read(65536)
    res.ttfb_ms = (time.perf_counter() - t0) * 1000
    while b"\r\n\r\n" not in data:
        more = await reader.read(65536)
        if not more:
            raise ConnectionError("closed inside the headers")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    res.status = int(head.split(b" ", 2)[1])
    return b"transfer-encoding: chunked" in head.lower(), rest


async def stream_once(url: str, token: str, body: bytes, *, timed: bool = True,
                      timeout_s: float = 120.0) -> StreamResult:
    """Send one streaming request and time every content event."""
    res = StreamResult(started=time.perf_counter())
    try:
        await asyncio.wait_for(_stream(url, token, body, res, timed), timeout_s)
    except Exception as exc:  # noqa: BLE001 - every failure counts as an error
        res.error = res.error or f"{type(exc).__name__}: {exc}"[:200]
    res.ended = time.perf_counter()
    return res


async def _stream(url: str, token: str, body: bytes, res: StreamResult, timed: bool) -> None:
    """The request/response exchange of stream_once."""
    host, port, request = build_request(url, token, body)
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        writer.write(request)
        await writer.drain()
        chunked, rest = await _read_head(reader, res, t0)
        decoder, buf = ChunkedDecoder(), bytearray()
        data = rest
        while True:
            now_ms = (time.perf_counter() - t0) * 1000
            buf += decoder.feed(data) if chunked else data
            _scan_events(buf, res, now_ms, timed)
            if decoder.finished:
                break
            data = await reader.read(65536)
            if not data:
                break
    finally:
        writer.close()


async def many_streams(url: str, tokens: list[str], body: bytes, count: int,
                       ramp_s: float = 2.0, timeout_s: float = 120.0) -> list[StreamResult]:
    """`count` concurrent streams, their starts spread evenly over ramp_s seconds."""

    async def one(i: int) -> StreamResult:
        """Stream i, started at its slot of the ramp."""
        await asyncio.sleep(ramp_s * i / max(1, count))
        return await stream_once(url, tokens[i % len(tokens)], body, timed=True,
                                 timeout_s=timeout_s)

    return await asyncio.gather(*(one(i) for i in range(count)))
