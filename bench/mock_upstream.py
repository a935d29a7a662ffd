"""A minimal gevent WSGI OpenAI mock: fixed JSON or SSE bytes, for checking the simulator's speed.

Run: python bench/mock_upstream.py [--port 0] [--chunks 20] [--delay-ms 0]
Prints MOCK_PORT=<n>. Answers POST .../chat/completions (JSON, or SSE when "stream": true);
everything else is 404. It does no validation, logging or fault injection.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
from typing import Callable, Iterable, Iterator  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402

WORDS = "The quarterly figures rose by four percent since last month. ".split()


def completion(chunks: int) -> bytes:
    """A chat.completion body."""
    return json.dumps({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": " ".join(WORDS)}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks},
    }, separators=(",", ":")).encode()


def sse_frames(chunks: int) -> list[bytes]:
    """Role chunk, content chunks, finish + usage chunk, [DONE]."""
    def frame(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
        """One chat.completion.chunk event."""
        obj = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
               "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            obj["usage"] = usage
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    body = [frame({"content": WORDS[i % len(WORDS)] + " "}) for i in range(chunks)]
    usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
    return [frame({"role": "assistant", "content": ""}), *body, frame({}, "stop", usage),
            b"data: [DONE]\n\n"]


class NoDelayHandler(WSGIHandler):
    """TCP_NODELAY on every connection; no access log."""

    def handle(self) -> None:
        """Disable Nagle, then serve."""
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def log_request(self) -> None:
        """No access log."""


def make_app(chunks: int, delay_ms: float) -> Callable:
    """The WSGI callable."""
    json_body, frames = completion(chunks), sse_frames(chunks)

    def stream() -> Iterator[bytes]:
        """SSE frames at the configured cadence."""
        yield frames[0]
        for item in frames[1:-2]:
            if delay_ms:
                gevent.sleep(delay_ms / 1000)
            yield item
        yield frames[-2] + frames[-1]

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Serve one request."""
        body = environ["wsgi.input"].read()
        if not environ.get("PATH_INFO", "").endswith("/chat/completions"):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        if b'"stream": true' in body or b'"stream":true' in body:
            start_response("200 OK", [("Content-Type", "text/event-stream")])
            return stream()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(json_body)))])
        return [json_body]

    return app


def main() -> None:
    """Parse options, listen, print the port, serve forever."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = WSGIServer(("127.0.0.1", args.port), make_app(args.chunks, args.delay_ms),
                        handler_class=NoDelayHandler, log=None, backlog=4096)
    server.start()
    print(f"MOCK_PORT={server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
