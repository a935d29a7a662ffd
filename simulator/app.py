"""The simulator as a plain WSGI callable (no framework: every microsecond counts)."""
from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import parse_qs

import orjson

from simulator import anthropic_format, gemini_format, openai_format
from simulator.content import make_plan
from simulator.control import SimState, handle_control
from simulator.faults import (CONNECTION_FAULTS, HTTP_FAULTS, IN_BAND_CONTENT_FILTER,
                              error_reply)
from simulator.routes import extract_key, match_route, new_entry
from simulator.server import SOCKET_KEY
from simulator.wire import (HANG_LIMIT_S, SSE_TYPE, STALL_DEFAULT_S, AbortConnectionError,
                            BadRequestError, Call, Reply, StreamRun, drive_stream, json_reply,
                            wait_for_disconnect)

FAMILIES = {"openai": openai_format, "azure": openai_format, "deepseek": openai_format,
            "glm": openai_format, "kimi": openai_format, "anthropic": anthropic_format,
            "gemini": gemini_format}
_REASONS = {529: "Overloaded"}


def _status_line(status: int) -> str:
    """``"429 Too Many Requests"``."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} {_REASONS.get(status, 'Unknown')}"


def _read_json(environ: dict, *, required: bool, entry: dict | None = None):
    """The request body as a JSON object ({} when absent and not required).

    The log keeps the raw JSON as an ``orjson.Fragment``: no parsed copy stays in memory.
    """
    raw = environ["wsgi.input"].read()
    if not raw and not required:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestError("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise BadRequestError("The request body must be a JSON object.")
    if entry is not None:
        entry["body"] = orjson.Fragment(raw)
    return body


def _tracked(body: bytes, entry: dict):
    """Yield a whole body; mark the log entry complete once it was written."""
    try:
        yield body
        entry["completed"] = True
    except GeneratorExit:
        entry["client_disconnected"] = True
        raise


class SimulatorApp:
    """WSGI app: ``/__sim/*`` control endpoints plus the seven provider surfaces."""

    def __init__(self, state: SimState | None = None) -> None:
        """Serve the given state (a fresh one by default)."""
        self.state = state or SimState()

    def __call__(self, environ, start_response):
        """Handle one request."""
        path = environ.get("PATH_INFO") or "/"
        entry = None
        if path.startswith("/__sim/"):
            reply = self._control(environ, path)
        else:
            reply, entry = self._provider(environ, path)
        return self._send(reply, start_response, entry)

    def _control(self, environ: dict, path: str) -> Reply:
        """Serve a control request."""
        try:
            body = _read_json(environ, required=False)
        except BadRequestError as exc:
            return json_reply(400, {"error": str(exc)})
        status, obj = handle_control(self.state, environ["REQUEST_METHOD"], path,
                                     environ.get("QUERY_STRING", ""), body)
        return json_reply(status, obj)

    def _provider(self, environ: dict, path: str) -> tuple:
        """Serve a provider request and log it; returns (reply, log entry)."""
        method = environ["REQUEST_METHOD"]
        route = match_route(method, path)
        if route is None:
            return json_reply(404, {"error": {"message": f"simulator: no provider at {path}"}}), None
        provider, rest, params = route
        params["rest"] = rest
        scheme, key = extract_key(provider, environ, parse_qs(environ.get("QUERY_STRING", "")))
        entry = self.state.record(new_entry(provider, environ, scheme, key))
        call = Call(provider=provider, endpoint="", params=params, body={}, key=key or "",
                    entry=entry, seq=entry["id"], created=int(time.time()))
        try:
            reply = self._serve(call, environ, method, rest)
        except BadRequestError as exc:
            reply = self._error(call, "bad_request", detail=str(exc))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            # A well-formed JSON body with ill-typed fields: answer 400, never crash.
            reply = self._error(call, "bad_request", detail=f"Invalid request: {exc!r}")
        entry["status"] = reply.status
        return reply, entry

    def _error(self, call: Call, kind: str, opts: dict | None = None, **ctx) -> Reply:
        """A provider's real error reply."""
        model = call.chat.model if call.chat else call.params.get("model") or call.body.get("model")
        ctx = {"model": model or "", "key": call.key, "path": call.params.get("native", ""),
               "version": call.params.get("version") or "v1beta", **ctx}
        status, body, headers = error_reply(call.provider, kind, ctx=ctx, opts=opts)
        return json_reply(status, body, headers)

    def _serve(self, call: Call, environ: dict, method: str, rest: str) -> Reply:
        """Resolve the endpoint, check the key, then answer."""
        family = FAMILIES[call.provider]
        endpoint = family.resolve(call.provider, method, rest)
        if endpoint is None:
            return self._error(call, "not_found")
        call.endpoint = call.entry["endpoint"] = endpoint
        if call.provider == "gemini":
            call.params["model"], call.params["action"] = gemini_format.split_rest(rest)
        if not call.key:
            return self._error(call, "missing_key")
        if "invalid" in call.key:
            return self._error(call, "invalid_key")
        problem = family.precheck(call, environ)
        if problem:
            return self._error(call, problem[0], detail=problem[1])
        call.body = _read_json(environ, required=method == "POST", entry=call.entry)
        if endpoint == "chat":
            call.chat = family.parse_chat(call)
            call.entry.update(model=call.chat.model, stream=call.chat.stream)
        if endpoint in ("chat", "embeddings"):
            return self._scripted(call, family, environ.get(SOCKET_KEY))
        return family.other(call)

    def _scripted(self, call: Call, family, sock) -> Reply:
        """Apply the next scripted entry (or defaults) to a chat or embedding request."""
        script = self.state.next_script(call.provider) or {}
        settings = self.state.settings(call.provider, script)
        fault = script.get("fault")
        call.entry.update(scripted=bool(script), fault=fault)
        if call.chat is not None:
            call.plan = make_plan(call.provider, call.chat, script, settings)
        self._wait_before_headers(call, settings, sock)
        if "status" in script:
            return json_reply(int(script["status"]), script.get("body", {}),
                              list((script.get("headers") or {}).items()))
        if fault in CONNECTION_FAULTS:
            self._connection_fault(call, fault, script, sock)
        if fault in HTTP_FAULTS:
            return self._http_fault(call, family, fault, script)
        if call.endpoint == "embeddings":
            return self._degraded(call, family.embeddings(call), script, sock)
        if call.chat.stream:
            run = StreamRun(settings=settings, opts=script, entry=call.entry, sock=sock)
            return Reply(200, drive_stream(family.stream_frames(call), run), content_type=SSE_TYPE,
                         run=run)
        return self._degraded(call, family.chat_reply(call), script, sock)

    def _wait_before_headers(self, call: Call, settings: dict, sock) -> None:
        """Sleep ``latency_ms`` (plus the first-token delay for non-streamed replies)."""
        delay = float(settings.get("latency_ms") or 0)
        if call.chat is not None and not call.chat.stream:
            delay += float(settings.get("first_chunk_delay_ms") or 0)
        if delay > 0 and wait_for_disconnect(sock, delay / 1000):
            call.entry["client_disconnected"] = True
            raise AbortConnectionError()

    def _connection_fault(self, call: Call, fault: str, script: dict, sock) -> None:
        """``reset``: RST before any byte; ``hang``: silence (max 60 s), then close."""
        if fault == "hang":
            seconds = min(float(script.get("hang_s", HANG_LIMIT_S)), HANG_LIMIT_S)
            call.entry["client_disconnected"] = wait_for_disconnect(sock, seconds)
        raise AbortConnectionError(reset=fault == "reset")

    def _http_fault(self, call: Call, family, fault: str, script: dict) -> Reply:
        """An injected HTTP error (content filters of Anthropic/Gemini chat are HTTP 200)."""
        if fault == "content_filter" and call.provider in IN_BAND_CONTENT_FILTER:
            if call.endpoint == "chat":
                return family.content_filter(call)
            return self._error(call, "bad_request", detail="Request blocked by content filter")
        return self._error(call, fault, opts=script)

    def _degraded(self, call: Call, reply: Reply, script: dict, sock) -> Reply:
        """Stream faults on a JSON reply: cut/stall send half the body, malformed truncates it."""
        fault = script.get("fault")
        if fault == "midstream_error":
            return self._error(call, "server_error", opts=script)
        if fault == "malformed_chunk":
            reply.body = reply.body[: len(reply.body) // 2]
        elif fault in ("cut", "stall"):
            reply.length = len(reply.body)
            reply.body = _half_then_drop(reply.body, fault, script, call.entry, sock)
        return reply

    def _send(self, reply: Reply, start_response, entry: dict | None):
        """Start the response and return the WSGI body iterable."""
        headers = [("Content-Type", reply.content_type), *reply.headers]
        body = reply.body
        if isinstance(body, bytes):
            headers.append(("Content-Length", str(len(body))))
            body = _tracked(body, entry) if entry is not None else [body]
        elif reply.length is not None:
            headers.append(("Content-Length", str(reply.length)))
        else:
            headers.append(("Cache-Control", "no-cache"))
        if entry is not None:
            headers.append(("x-request-id", f"req_sim{entry['id']:012d}"))
            if entry["provider"] == "anthropic":
                headers.append(("request-id", f"req_sim{entry['id']:012d}"))
        write = start_response(_status_line(reply.status), headers)
        if reply.run is not None:
            reply.run.flush = lambda: write(b"")
        return body


def _half_then_drop(body: bytes, fault: str, script: dict, entry: dict, sock):
    """Send half a JSON body, optionally stall, then drop the connection."""
    yield body[: len(body) // 2]
    if fault == "stall":
        if wait_for_disconnect(sock, float(script.get("stall_s", STALL_DEFAULT_S))):
            entry["client_disconnected"] = True
    raise AbortConnectionError()


def create_app(state: SimState | None = None) -> SimulatorApp:
    """Build the WSGI app around a (new) state."""
    return SimulatorApp(state)
