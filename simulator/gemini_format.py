"""The Gemini (Generative Language API) wire family (providers.md §6), ``v1beta`` and ``v1``.

Streams are ``?alt=sse`` style: ``data:`` events only, each a full GenerateContentResponse with
cumulative ``usageMetadata``; ``finishReason`` only on the last; no terminator.
"""
from __future__ import annotations

import math

import orjson

from simulator import catalog
from simulator.content import ChatInput, count_tokens, text_of
from simulator.embeddings import gemini_embeddings
from simulator.faults import inband_error
from simulator.wire import (BadRequestError, Call, Reply, StreamFrames, Template, json_reply,
                            slot, sse)

_METHODS = {("POST", "generateContent"): "chat", ("POST", "streamGenerateContent"): "chat",
            ("POST", "embedContent"): "embeddings", ("POST", "batchEmbedContents"): "embeddings",
            ("POST", "countTokens"): "count_tokens"}
_SAFETY = [{"category": c, "probability": "NEGLIGIBLE"} for c in (
    "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT")]


def split_rest(rest: str) -> tuple:
    """``models/gemini-2.5-flash:generateContent`` -> ("gemini-2.5-flash", "generateContent")."""
    name, _, method = rest.strip("/").partition(":")
    return name.removeprefix("models/"), method


def resolve(provider: str, method: str, rest: str) -> str | None:
    """The endpoint name for a path under ``/{version}/``, or None (404)."""
    rest = rest.strip("/")
    if method == "GET" and rest == "models":
        return "models"
    if not rest.startswith("models/") or "/" in rest[len("models/"):]:
        return None
    model, action = split_rest(rest)
    if not action:
        return "model" if method == "GET" and model else None
    return _METHODS.get((method, action))


def precheck(call: Call, environ: dict) -> tuple | None:
    """No extra header requirements beyond the key."""
    return None


def _part_text(part) -> str:
    """Text of a part; function responses count as their JSON."""
    if isinstance(part, dict) and "functionResponse" in part:
        return orjson.dumps(part["functionResponse"].get("response")).decode()
    return text_of(part)


def _chars(body: dict) -> int:
    """Characters of the system instruction and every part."""
    total = len(text_of((body.get("systemInstruction") or {}).get("parts")))
    for content in body["contents"]:
        total += sum(len(_part_text(p)) for p in content.get("parts") or [])
    return total


def _tools(body: dict) -> list:
    """(name, schema) of each function declaration."""
    tools = []
    for tool in body.get("tools") or []:
        for decl in (tool or {}).get("functionDeclarations") or []:
            schema = decl.get("parameters") or decl.get("parametersJsonSchema")
            tools.append((decl.get("name", "tool"), schema))
    return tools


def parse_chat(call: Call) -> ChatInput:
    """Validate a generateContent body and extract what the reply depends on."""
    body, contents = call.body, call.body.get("contents")
    if not isinstance(contents, list) or not contents or not all(
            isinstance(c, dict) for c in contents):
        raise BadRequestError("* GenerateContentRequest.contents: contents is not specified")
    last = contents[-1]
    responses = [p["functionResponse"] for p in last.get("parts") or []
                 if isinstance(p, dict) and "functionResponse" in p]
    user = last.get("role", "user") == "user"
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    return ChatInput(
        model=call.params["model"], stream=call.params["action"] == "streamGenerateContent",
        text_chars=_chars(body), tools=_tools(body),
        last_kind="tool" if responses and user else ("user" if user else "other"),
        tool_result="".join(orjson.dumps(r.get("response")).decode() for r in responses),
        tools_disabled=mode == "NONE")


def _usage(call: Call, completion: int) -> dict:
    """usageMetadata with a given (cumulative) candidates count."""
    prompt = call.plan.prompt_tokens
    return {"promptTokenCount": prompt, "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
            "thoughtsTokenCount": 0}


def _response(call: Call, part: dict, completion: int, *, final: bool) -> dict:
    """One GenerateContentResponse carrying one part."""
    candidate = {"content": {"parts": [part], "role": "model"}, "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": _usage(call, completion),
            "modelVersion": call.chat.model, "responseId": f"simresp{call.seq:017d}"}


def _tool_part(call: Call) -> dict:
    """A functionCall part."""
    return {"functionCall": {"name": call.plan.tool_name, "args": call.plan.tool_args}}


def chat_reply(call: Call) -> Reply:
    """The non-streamed generateContent response."""
    plan = call.plan
    part = _tool_part(call) if plan.tool_name else {"text": plan.text}
    return json_reply(200, _response(call, part, plan.completion_tokens, final=True))


def _text_frames(call: Call):
    """One event per piece with cumulative usage; finishReason on the last."""
    pieces, total = call.plan.pieces, call.plan.completion_tokens
    prompt, count = call.plan.prompt_tokens, len(pieces)
    shape = _response(call, {"text": slot(0)}, 0, final=False)
    shape["usageMetadata"].update(candidatesTokenCount=slot(1), totalTokenCount=slot(2))
    template = Template(shape)
    for index, piece in enumerate(pieces[:-1]):
        done = math.ceil(total * (index + 1) / count)
        yield template.render(piece, done, prompt + done)
    yield sse(_response(call, {"text": pieces[-1]}, total, final=True))


def stream_frames(call: Call) -> StreamFrames:
    """The streamGenerateContent?alt=sse events."""
    plan = call.plan
    if plan.tool_name:
        body, count = [sse(_response(call, _tool_part(call), plan.completion_tokens,
                                     final=True))], 1
    else:
        body, count = _text_frames(call), len(plan.pieces)
    return StreamFrames(prelude=[], body=body, count=count, finale=[], terminator=[],
                        malformed=b'data: {"candidates": [{"content": {"parts": [{"text": \n\n',
                        error=sse(inband_error("gemini", "server_error")))


def content_filter(call: Call) -> Reply:
    """A blocked prompt: HTTP 200, no candidates, promptFeedback.blockReason."""
    prompt = call.plan.prompt_tokens
    out = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY},
           "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
           "modelVersion": call.chat.model, "responseId": f"simresp{call.seq:017d}"}
    if call.chat.stream:
        return Reply(200, iter([sse(out)]), content_type="text/event-stream")
    return json_reply(200, out)


embeddings = gemini_embeddings  # this family's embeddings endpoint


def other(call: Call) -> Reply:
    """Model list, one model, and countTokens."""
    if call.endpoint == "count_tokens":
        contents = call.body.get("contents")
        if not isinstance(contents, list):
            raise BadRequestError("* CountTokensRequest.contents: contents is not specified")
        tokens = count_tokens(_chars({"contents": contents}))
        return json_reply(200, {"totalTokens": tokens, "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": tokens}]})
    if call.endpoint == "model":
        return json_reply(200, catalog.gemini_model(call.params["model"]))
    return json_reply(200, catalog.gemini_models())
