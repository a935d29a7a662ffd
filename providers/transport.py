"""The lean transport: a requests adapter that speaks HTTP/1.1 itself over pooled keep-alive sockets.

Why: requests → urllib3 → http.client spent 0.74 ms of CPU on a 1 KB chat call (header
objects, `email` parsing, retries and hooks we never use), a quarter of the gateway's cost per
request. This adapter writes each request with one `sendall` and parses the answer with the
socket's C buffered reader: 0.27 ms for the same call (`python bench/transport_micro.py`).

What it does: HTTP and HTTPS (certifi's CA bundle, hostname verified, the system's TLS defaults),
keep-alive pooling per (scheme, host, port) with a stale-connection check, Content-Length /
chunked / close-delimited bodies, gzip and deflate. What it leaves out on purpose: proxies and
environment settings (provider calls ignore them), redirects (they would carry key headers to
another host), cookies, and HTTP/2. Errors are requests' exception classes, so callers and the
error map see one vocabulary. Unit tests that mock with `responses` mount requests' stock
HTTPAdapter instead (`providers.http.ADAPTER`); this one is tested against real sockets.
"""
from __future__ import annotations

import select
import socket
import ssl
import time
from collections import deque
from typing import Mapping
from urllib.parse import urlsplit

import certifi
import requests
from gevent.monkey import get_original
from requests.adapters import BaseAdapter
from requests.exceptions import ConnectionError, ConnectTimeout, InvalidHeader, InvalidURL, ReadTimeout, SSLError
from requests.utils import get_encoding_from_headers

from providers.transport_body import Body, read_head

IDLE_MAX_S = 30.0           # pooled sockets idle longer than this are closed, not reused
READ_BUFFER = 4096             # one buffer per pooled socket, and 1,000 streams hold 1,000 sockets
_DEFAULT_PORTS = {"http": 80, "https": 443}
_tls: ssl.SSLContext | None = None
_poll = get_original("select", "poll")


def tls_context() -> ssl.SSLContext:
    """One verifying client context per process, made on first use (after gevent has patched ssl)."""
    global _tls
    if _tls is None:
        context = ssl.create_default_context(cafile=certifi.where())
        context.set_alpn_protocols(["http/1.1"])
        _tls = context
    return _tls


class Connection:
    """One socket to one origin, with its buffered reader."""

    __slots__ = ("sock", "reader", "idle_since")

    def __init__(self, scheme: str, host: str, port: int, connect_timeout: float | None) -> None:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = tls_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=READ_BUFFER)
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Idle not too long and not closed by the server (a readable idle socket is EOF or junk).

        One poll(2) with a zero timeout, the unpatched one (gevent's would yield to the loop):
        unlike select(), it works for descriptors above 1024, which a worker holding 1,000
        streams has.
        """
        if now - self.idle_since > IDLE_MAX_S:
            return False
        poller = _poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        return not poller.poll(0)

    def close(self) -> None:
        """Close the reader and the socket; safe to call twice."""
        try:
            self.reader.close()
        finally:
            self.sock.close()


class LeanAdapter(BaseAdapter):
    """requests' transport extension point, implemented with pooled sockets (see the module doc)."""

    def __init__(self, pool_maxsize: int = 1024) -> None:
        super().__init__()
        self._pool_maxsize = pool_maxsize
        self._idle: dict[tuple[str, str, int], deque[Connection]] = {}

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout=None,
             verify=True, cert=None, proxies=None) -> requests.Response:
        """Send one prepared request; the body is read now unless `stream`."""
        connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        origin, data = _serialise(request)
        conn = self._checkout(origin, connect_timeout)
        try:
            conn.sock.settimeout(read_timeout)
            conn.sock.sendall(data)
            status, reason, headers, keep_alive = read_head(conn.reader)
        except BaseException as exc:
            # No transparent resend, even on a reused socket: the server may have acted on the
            # request, and the attempt runner (which records attempts) owns retries.
            conn.close()
            raise _mapped(exc, "reading the response head") from None
        try:
            body = self._body(conn, origin, request.method, status, headers, keep_alive)
        except BaseException:
            conn.close()                            # e.g. an invalid Content-Length
            raise
        return _response(request, status, reason, headers, body, stream)

    def _checkout(self, origin: tuple[str, str, int], connect_timeout: float | None) -> Connection:
        idle, now = self._idle.get(origin), time.monotonic()
        while idle:
            try:
                conn = idle.pop()
            except IndexError:                      # another thread took the last one
                break
            if conn.usable(now):
                return conn
            conn.close()
        try:
            return Connection(*origin, connect_timeout)
        except BaseException as exc:
            raise _mapped(exc, "connecting", connecting=True) from None

    def _body(self, conn: Connection, origin, method: str, status: int, headers, keep_alive: bool) -> Body:
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = None if chunked else _content_length(headers)
        if method == "HEAD" or status in (204, 304) or status < 200:
            length, chunked = 0, False
        reusable = keep_alive and (chunked or length is not None)
        return Body(conn, length=length, chunked=chunked, encoding=headers.get("content-encoding", ""),
                    on_complete=(lambda: self._checkin(origin, conn)) if reusable else conn.close)

    def _checkin(self, origin: tuple[str, str, int], conn: Connection) -> None:
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle.setdefault(origin, deque())
        if len(idle) >= self._pool_maxsize:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def close(self) -> None:
        """Close every idle pooled socket."""
        for idle in self._idle.values():
            while idle:
                idle.pop().close()


def _serialise(request: requests.PreparedRequest) -> tuple[tuple[str, str, int], bytes]:
    """The origin to connect to and the request's bytes: head and body in one buffer."""
    url = urlsplit(request.url)
    scheme, host = url.scheme.lower(), url.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise InvalidURL("Only http:// and https:// URLs with a host can be sent")
    try:
        port = url.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise InvalidURL("The URL has an invalid port") from None
    authority = f"[{host}]" if ":" in host else host
    authority += "" if port == _DEFAULT_PORTS[scheme] else f":{port}"
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    head = f"{request.method} {target} HTTP/1.1\r\nHost: {authority}\r\n{_header_block(request.headers)}\r\n"
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        return (scheme, host, port), head.encode("latin-1") + body
    except UnicodeEncodeError:
        raise InvalidHeader("A request header is not Latin-1 text") from None


def _header_block(headers: Mapping[str, str]) -> str:
    """`Name: value\\r\\n` lines; CR or LF in a field would inject headers, so it is refused."""
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise InvalidHeader(f"Header {name.strip()[:40]!r} contains a line break or colon")
        lines.append(f"{name}: {value}\r\n")
    if "accept-encoding" not in headers:
        lines.append("Accept-Encoding: identity\r\n")     # what http.client sent; streams stay unbuffered
    return "".join(lines)


def _content_length(headers: Mapping[str, str]) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1 or not (value := values.pop()).isdigit():
        raise ConnectionError("The server sent an invalid Content-Length")
    return int(value)


def _response(request, status: int, reason: str, headers, body: Body, stream: bool) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp.reason, resp.headers, resp.raw = status, reason, headers, body
    resp.url = request.url          # not .request: a stream would keep the serialised body alive
    resp.encoding = get_encoding_from_headers(headers)
    if not stream:
        resp._content = body.read_all()
    return resp


def _mapped(exc: BaseException, doing: str, *, connecting: bool = False) -> BaseException:
    """requests' exception for a socket-level failure; the message names the step, never the request."""
    if isinstance(exc, requests.RequestException):
        return exc
    if isinstance(exc, ssl.SSLError):
        return SSLError(f"TLS failed while {doing} ({exc.reason or type(exc).__name__})")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        cls = ConnectTimeout if connecting else ReadTimeout
        return cls(f"Timed out while {doing}")
    if isinstance(exc, OSError):
        return ConnectionError(f"Connection failed while {doing} ({type(exc).__name__})")
    return exc
