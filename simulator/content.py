"""Deterministic reply text, token counts, tool-call arguments and embedding vectors.

The rules (documented here once, relied on by tests and benchmarks):

* reply text: scripted ``content`` > ``"Tool result: <text>"`` when the last message is a tool
  result > configured ``content`` > ``"Hello from <provider_id>."``;
* the reply is cut into ``chunks`` near-equal character slices (the first ``len % chunks``
  slices are one character longer; when ``chunks`` exceeds the text length the trailing slices
  are empty strings, so stream timing is unchanged and the text is never altered);
* ``prompt_tokens = max(1, ceil(chars / 4))`` over all request text (system prompt, message
  text, tool results; embeddings: all inputs); ``completion_tokens = chunks`` (also for
  non-streamed replies and tool calls); scripted ``usage`` overrides either number;
* a tool call goes to the first tool when tools are present, the last message is from the user
  and tool choice is not "none"; arguments are ``{"city": "Paris"}`` unless the tool's schema
  declares properties, which are filled by type (see :func:`tool_arguments`).
"""
from __future__ import annotations

import base64
import hashlib
import math
import struct
from dataclasses import dataclass, field

import orjson

DEFAULT_SETTINGS = {
    "chunks": 5,
    "chunk_delay_ms": 0,
    "first_chunk_delay_ms": 0,
    "latency_ms": 0,
    "content": None,
    "keepalives": 2,
}


@dataclass
class ChatInput:
    """What a chat request asked for, extracted by each wire family."""

    model: str
    stream: bool = False
    include_usage: bool = False
    text_chars: int = 0
    tools: list = field(default_factory=list)  # [(name, json_schema)]
    last_kind: str = "user"  # "user", "tool" or "other"
    tool_result: str = ""
    tools_disabled: bool = False


@dataclass
class Plan:
    """A fully resolved reply: text or tool call, usage, timing and fault."""

    text: str
    pieces: list
    tool_name: str | None
    tool_args: dict | None
    prompt_tokens: int
    completion_tokens: int
    settings: dict

    @property
    def tool_json(self) -> str:
        """The tool arguments as the compact JSON string providers stream."""
        return orjson.dumps(self.tool_args).decode() if self.tool_args is not None else ""

    @property
    def tool_pieces(self) -> list:
        """The tool-argument JSON split like text pieces."""
        return split_text(self.tool_json, len(self.pieces))


def count_tokens(chars: int) -> int:
    """Deterministic token estimate: a quarter of the characters, at least one."""
    return max(1, math.ceil(chars / 4))


def split_text(text: str, n: int) -> list:
    """Split text into n near-equal slices (longer ones first; empty ones when n > len)."""
    n = max(1, int(n))
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def _sample_value(prop: dict):
    """A deterministic value fitting one JSON-schema property."""
    if prop.get("enum"):
        return prop["enum"][0]
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(
        str(kind).lower(), "Paris")


def tool_arguments(schema: dict | None) -> dict:
    """Arguments for a tool: required (else all) properties filled by type; else city=Paris."""
    props = (schema or {}).get("properties") or {}
    if not props:
        return {"city": "Paris"}
    names = (schema or {}).get("required") or list(props)
    return {name: _sample_value(props.get(name) or {}) for name in names}


def _reply_text(provider: str, chat: ChatInput, scripted: dict, settings: dict) -> str:
    """Pick the reply text by the documented priority."""
    if scripted.get("content") is not None:
        return str(scripted["content"])
    if chat.last_kind == "tool":
        return f"Tool result: {chat.tool_result}"
    if settings.get("content") is not None:
        return str(settings["content"])
    return f"Hello from {provider}."


def _tool_choice(chat: ChatInput, scripted: dict) -> tuple:
    """The (name, arguments) of the tool call to make, or (None, None)."""
    forced = scripted.get("tool_call")
    if isinstance(forced, dict):
        return forced.get("name", "tool"), forced.get("arguments", {"city": "Paris"})
    if forced is False or scripted.get("content") is not None or chat.tools_disabled:
        return None, None
    if chat.tools and chat.last_kind == "user":
        name, schema = chat.tools[0]
        return name, tool_arguments(schema)
    return None, None


def make_plan(provider: str, chat: ChatInput, scripted: dict, settings: dict) -> Plan:
    """Resolve the reply for a chat request from the request, the script entry and config."""
    n = max(1, int(settings["chunks"]))
    text = _reply_text(provider, chat, scripted, settings)
    tool_name, tool_args = _tool_choice(chat, scripted)
    usage = scripted.get("usage") or {}
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return Plan(
        text="" if tool_name else text,
        pieces=split_text("" if tool_name else text, n),
        tool_name=tool_name,
        tool_args=tool_args,
        prompt_tokens=int(prompt) if prompt is not None else count_tokens(chat.text_chars),
        completion_tokens=int(completion) if completion is not None else n,
        settings=settings,
    )


def embedding_vector(text: str, dims: int) -> list:
    """A deterministic vector; every value is exact in float32 (multiples of 1/128)."""
    digest = hashlib.shake_256(text.encode("utf-8")).digest(max(1, int(dims)))
    return [(b - 128) / 128 for b in digest]


def encode_base64(vector: list) -> str:
    """Encode a vector as base64 of little-endian float32, as the OpenAI API does."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def text_of(value) -> str:
    """Flatten a content value (string, list of parts/blocks, dict) into plain text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(text_of(item) for item in value)
    if isinstance(value, dict):
        if "text" in value:
            return text_of(value["text"])
        if "content" in value:
            return text_of(value["content"])
        return ""
    return str(value)
