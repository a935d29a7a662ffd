"""The lean upstream transport over real loopback sockets: framing, pooling, errors, TLS."""
from __future__ import annotations

import gzip
import socket
import ssl
import threading

import pytest
import requests

from providers import http, transport
from providers.deadlines import LiveStream
from providers.types import Timeouts
from tests.helpers.raw_server import RawServer, Script, json_reply, read_request, self_signed, serve_forever

@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(script, tls))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


@pytest.fixture
def adapter():
    lean = transport.LeanAdapter(pool_maxsize=4)
    yield lean
    lean.close()


def send(adapter, url: str, *, body: dict | None = None, stream: bool = False,
         headers: dict | None = None, timeout=(2.0, 2.0)) -> requests.Response:
    prepared = http.prepare("POST" if body is not None else "GET", url,
                            headers=headers or {"Authorization": "Bearer sk-test"}, body=body)
    return adapter.send(prepared, stream=stream, timeout=timeout)


def test_production_sessions_use_the_lean_transport_with_a_large_pool():
    http.reset_sessions()
    adapter = http.session_for(RawServer).get_adapter("https://api.example.com")
    assert isinstance(adapter, transport.LeanAdapter) and adapter._pool_maxsize >= 1000
    http.reset_sessions()


def test_request_bytes_on_the_wire(serve, adapter):
    seen: list[bytes] = []
    server = serve(serve_forever(json_reply(), seen))
    resp = send(adapter, server.url("/v1/chat?alt=sse"), body={"model": "m", "text": "héllo"})
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat?alt=sse HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"Accept-Encoding: identity" in lines and b"Authorization: Bearer sk-test" in lines
    assert body == '{"model":"m","text":"héllo"}'.encode() and f"Content-Length: {len(body)}".encode() in lines


def test_keep_alive_reuses_one_connection(serve, adapter):
    server = serve(serve_forever(json_reply()))
    for _ in range(5):
        assert send(adapter, server.url(), body={}).json() == {"ok": True}
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(serve, adapter):
    closed = threading.Event()

    def answer_once_then_close(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(json_reply(b'{"n":%d}' % index))
        sock.close()
        closed.set()
    server = serve(answer_once_then_close)
    assert send(adapter, server.url(), body={}).json() == {"n": 1}
    assert closed.wait(2)
    assert send(adapter, server.url(), body={}).json() == {"n": 2}
    assert server.connections == 2


def test_a_reused_connection_dropped_without_an_answer_is_not_resent(serve, adapter, monkeypatch):
    def script(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(json_reply(b'{"n":%d}' % index))
        if index == 1:
            read_request(sock)                      # second request on this socket: hang up unanswered
    server = serve(script)
    monkeypatch.setattr(transport.Connection, "usable", lambda self, now: True)   # lose the race on purpose
    assert send(adapter, server.url(), body={}).json() == {"n": 1}
    with pytest.raises(requests.ConnectionError, match="without a response"):
        send(adapter, server.url(), body={})        # the server may have acted on it: the caller decides
    assert send(adapter, server.url(), body={}).json() == {"n": 2} and server.connections == 2


def test_chunked_stream_yields_each_chunk_as_it_arrives(serve, adapter):
    sent_first, release = threading.Event(), threading.Event()

    def script(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"8;ext=1\r\ndata: 1\n\r\n")
        sent_first.set()
        release.wait(5)
        sock.sendall(b"8\r\ndata: 2\n\r\n0\r\nX-Trailer: t\r\n\r\n")
        read_request(sock)
        sock.sendall(json_reply())
    server = serve(script)
    resp = send(adapter, server.url(), body={}, stream=True)
    pieces = resp.iter_content(chunk_size=None)
    assert next(pieces) == b"data: 1\n"            # arrives before the server sends the rest
    release.set()
    assert list(pieces) == [b"data: 2\n"]
    assert send(adapter, server.url(), body={}).json() == {"ok": True} and server.connections == 1


def test_close_delimited_body_and_connection_close(serve, adapter):
    def script(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"n\":%d}" % index)
    server = serve(script)
    assert send(adapter, server.url(), body={}).json() == {"n": 1}
    assert send(adapter, server.url(), body={}).json() == {"n": 2}
    assert server.connections == 2


def test_gzip_bodies_are_decoded_and_interim_responses_skipped(serve, adapter):
    packed = gzip.compress(b'{"zipped":true}')
    reply = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
             b"X-A: 1\r\nX-A: 2\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(packed), packed))
    server = serve(serve_forever(reply))
    resp = send(adapter, server.url(), body={})
    assert (resp.status_code, resp.json()) == (429, {"zipped": True})
    assert resp.headers["retry-after"] == "3" and resp.headers["x-a"] == "1, 2"


def test_a_truncated_body_raises(serve, adapter):
    def script(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\"")
    server = serve(script)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        send(adapter, server.url(), body={})
    with pytest.raises(requests.RequestException):
        list(send(adapter, server.url(), body={}, stream=True).iter_content(chunk_size=None))


def test_malformed_status_line_and_silence_and_refusal(serve, adapter):
    garbage = serve(lambda sock, i: (read_request(sock), sock.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")))
    with pytest.raises(requests.ConnectionError, match="malformed"):
        send(adapter, garbage.url(), body={})
    silent = serve(lambda sock, i: (read_request(sock), threading.Event().wait(3)))
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(adapter, silent.url(), body={}, timeout=(2, 0.3))
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(requests.ConnectionError) as info:
        send(adapter, f"http://127.0.0.1:{port}/", body={})
    assert "sk-test" not in str(info.value)


def test_header_injection_is_refused_before_anything_is_sent(serve, adapter):
    seen: list[bytes] = []
    server = serve(serve_forever(json_reply(), seen))
    with pytest.raises(requests.exceptions.InvalidHeader):
        send(adapter, server.url(), body={}, headers={"Authorization": "Bearer x\r\nX-Evil: 1"})
    assert seen == [] and server.connections == 0


def test_closing_a_stream_early_drops_its_socket(serve, adapter):
    def script(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        threading.Event().wait(2)
    server = serve(script)
    resp = send(adapter, server.url(), body={}, stream=True)
    assert next(resp.iter_content(chunk_size=None)) == b"abc"
    resp.close()
    assert resp.raw.isclosed() and not adapter._idle.get(("http", "127.0.0.1", server.port))


def test_abort_from_another_thread_cuts_a_waiting_read(serve, adapter):
    server = serve(lambda sock, i: (read_request(sock), sock.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), threading.Event().wait(5)))
    resp = send(adapter, server.url(), body={}, stream=True, timeout=(2, 5))
    live = LiveStream(Timeouts(2, 5))
    live.attach(resp)
    threading.Timer(0.2, live.abort).start()
    with pytest.raises(requests.RequestException):
        list(resp.iter_content(chunk_size=None))


def test_tls_verifies_the_certificate_and_the_host_name(serve, adapter, tmp_path, monkeypatch):
    cert, key = self_signed()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = serve(serve_forever(json_reply()), tls=server_ctx)
    with pytest.raises(requests.exceptions.SSLError):           # not signed by a trusted CA
        send(adapter, server.url(scheme="https", host="localhost"), body={})
    trusting = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    monkeypatch.setattr(transport, "_tls", trusting)
    assert send(adapter, server.url(scheme="https", host="localhost"), body={}).json() == {"ok": True}
    with pytest.raises(requests.exceptions.SSLError):           # right CA, wrong host name
        send(adapter, server.url(scheme="https", host="127.0.0.1"), body={})


def test_a_stream_closed_after_its_last_event_keeps_its_connection(serve, adapter):
    seen: list[bytes] = []
    sse = b"data: {}\n\ndata: [DONE]\n\n"
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(sse), sse)
    server = serve(serve_forever(reply, seen))
    for _ in range(3):
        resp = send(adapter, server.url(), body={}, stream=True)
        pieces = resp.iter_content(chunk_size=None)
        assert next(pieces).endswith(b"[DONE]\n\n")    # the reader stops here, before the last chunk
        resp.close()
    assert len(seen) == 3 and server.connections == 1


def test_a_stream_that_timed_out_is_never_pooled(serve, adapter):
    server = serve(lambda sock, i: (read_request(sock), sock.sendall(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), threading.Event().wait(3)))
    resp = send(adapter, server.url(), body={}, stream=True, timeout=(2, 0.3))
    with pytest.raises(requests.exceptions.ReadTimeout):
        list(resp.iter_content(chunk_size=None))
    resp.close()
    assert resp.raw.isclosed() and not adapter._idle.get(("http", "127.0.0.1", server.port))


def test_an_invalid_content_length_is_refused_and_the_socket_dropped(serve, adapter):
    closed = threading.Event()

    def script(sock: socket.socket, index: int) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12, 13\r\n\r\n{}")
        sock.settimeout(3)
        if sock.recv(1) == b"":
            closed.set()
    server = serve(script)
    with pytest.raises(requests.ConnectionError, match="Content-Length"):
        send(adapter, server.url(), body={})
    assert closed.wait(3) and not adapter._idle.get(("http", "127.0.0.1", server.port))
