"""The gevent WSGI server: a handler that can drop connections and writes headers+body at once."""
from __future__ import annotations

import socket
import struct

from gevent.pywsgi import WSGIHandler, WSGIServer

from simulator.wire import AbortConnectionError

SOCKET_KEY = "simulator.socket"


class SimHandler(WSGIHandler):
    """pywsgi handler exposing the client socket to the app and honouring connection faults."""

    def get_environ(self):
        """Add the client socket so the app can watch for disconnects and drop connections."""
        environ = super().get_environ()
        environ[SOCKET_KEY] = self.socket
        return environ

    def handle(self):
        """Disable Nagle: small SSE frames must leave immediately."""
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return super().handle()

    def run_application(self):
        """Run the app; an AbortConnectionError closes the socket without a (complete) reply."""
        try:
            super().run_application()
        except AbortConnectionError as exc:
            self.close_connection = True
            self._drop(reset=exc.reset)

    def _drop(self, *, reset: bool) -> None:
        """Close the client connection: RST when ``reset``, else FIN (no chunk terminator)."""
        sock = self.socket
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write_with_headers(self, data):
        """Send the status line, headers and first data in one syscall (one packet on loopback)."""
        self.headers_sent = True
        self.finalize_headers()
        towrite = bytearray(b"HTTP/1.1 ")
        towrite += self.status
        towrite += b"\r\n"
        for header, value in self.response_headers:
            towrite += header + b": " + value + b"\r\n"
        towrite += b"\r\n"
        if data and self.response_use_chunked:
            towrite += b"%x\r\n" % len(data) + data + b"\r\n"
        elif data:
            towrite += data
        self._sendall(towrite)

    def log_request(self):
        """Access logging is off: the simulator keeps its own request log."""


def make_server(app, *, host: str = "127.0.0.1", port: int = 0, backlog: int = 4096) -> WSGIServer:
    """A started (listening) gevent WSGI server for the app."""
    server = WSGIServer((host, port), app, handler_class=SimHandler, log=None, backlog=backlog)
    server.start()
    return server
