"""A small incremental Server-Sent Events decoder (WHATWG rules) over a stream of byte chunks."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event. event is None when the stream sent no `event:` field."""

    event: str | None
    data: str
    id: str | None = None


class SSEDecoder:
    """Turns byte chunks into events; each event is returned as soon as its blank line arrives."""

    def __init__(self) -> None:
        self._buffer = b""
        self._skip_lf = False      # a chunk ended in CR: a LF at the start of the next one is the same EOL
        self._first_line = True
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._dirty = False        # some field of an undispatched event has been seen
        self.finished = False
        self.ended_mid_event = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one chunk and return the events it completed."""
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        buf = self._buffer + chunk
        events: list[ServerSentEvent] = []
        start = 0
        for match in _EOL.finditer(buf):
            if match.group() == b"\r" and match.end() == len(buf):
                self._skip_lf = True
            event = self._process_line(buf[start:match.start()].decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
            start = match.end()
        self._buffer = buf[start:]
        return events

    def close(self) -> bool:
        """Mark the end of input; return True if it ended cleanly (no partial line or event)."""
        self.finished = True
        self.ended_mid_event = bool(self._buffer) or self._dirty
        return not self.ended_mid_event

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if self._first_line:
            self._first_line = False
            line = line.removeprefix(_BOM)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        self._set_field(name, value.removeprefix(" "))
        return None

    def _set_field(self, name: str, value: str) -> None:
        if name == "event":
            self._event, self._dirty = value, True
        elif name == "data":
            self._data.append(value)
            self._dirty = True
        elif name == "id" and "\x00" not in value:
            self._id, self._dirty = value, True

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._dirty = [], None, False
        if not data:
            return None  # WHATWG: an event without data lines is not dispatched
        return ServerSentEvent(event=event or None, data="\n".join(data), id=self._id)


def iter_events(chunks: Iterable[bytes], decoder: SSEDecoder | None = None) -> Iterator[ServerSentEvent]:
    """Yield events from byte chunks as they complete; check decoder.ended_mid_event afterwards."""
    decoder = decoder or SSEDecoder()
    for chunk in chunks:
        if chunk:
            yield from decoder.feed(chunk)
    decoder.close()
