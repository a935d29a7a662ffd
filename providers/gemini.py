"""Google Gemini (Generative Language API, AI Studio keys) adapter."""
from __future__ import annotations

import json
from typing import Any, Iterator, Mapping
from urllib.parse import quote

import errors
from providers.base import HttpCall, Provider, StreamState, estimate_usage
from providers.errormap import UpstreamErrorInfo, error_object, parse_duration
from providers.openai_format import arguments_object, arguments_text
from providers.sse import ServerSentEvent
from providers.types import (ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResult, Message, StreamChunk,
                             ToolCall, ToolCallDelta, ToolChoice, Usage)

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
             "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", **{name: "content_filter" for name in _FILTERED}}
_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
# JSON Schema keys the `parameters` (OpenAPI subset) field rejects with 400 "Unknown name".
_UNSUPPORTED_SCHEMA_KEYS = frozenset({"$schema", "additionalProperties"})


def map_finish(reason: str | None, has_calls: bool) -> str:
    """OpenAI's finish reason; STOP with function calls is tool_calls."""
    mapped = FINISH_REASONS.get(reason or "", "stop")
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def clean_schema(node: Any) -> Any:
    """A JSON Schema without the keys Gemini's `parameters` does not accept."""
    if isinstance(node, list):
        return [clean_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: ({name: clean_schema(sub) for name, sub in value.items()}
                  if key == "properties" and isinstance(value, dict) else clean_schema(value))
            for key, value in node.items() if key not in _UNSUPPORTED_SCHEMA_KEYS}


def tool_result_value(content: str | None) -> Any:
    """A tool result as Gemini wants it: the parsed JSON object, or else the text."""
    try:
        value = json.loads(content or "")
    except json.JSONDecodeError:
        return content or ""
    return value if isinstance(value, dict) else content


def to_parts(m: Message, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """The parts of one turn; a tool result needs the function name (Message.name or lookup)."""
    if m.role == "tool":
        name = m.name or names.get(m.tool_call_id or "")
        if not name:
            raise errors.BadRequestError(f"Google Gemini needs the function name for tool result "
                                         f"'{m.tool_call_id}': set the message name")
        return [{"functionResponse": {"name": name, "response": {"content": tool_result_value(m.content)}}}]
    parts: list[dict[str, Any]] = [{"text": m.content or ""}] if m.content or not m.tool_calls else []
    return parts + [{"functionCall": {"name": c.name, "args": arguments_object(c.arguments)}} for c in m.tool_calls]


def to_contents(messages: list[Message]) -> list[dict[str, Any]]:
    """Gemini contents: roles user/model, same-role turns merged, system left out."""
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for m in messages:
        if m.role == "system":
            continue
        names.update({c.id: c.name for c in m.tool_calls})
        role = "model" if m.role == "assistant" else "user"
        parts = to_parts(m, names)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def tool_config(choice: ToolChoice) -> dict[str, Any]:
    """toolConfig.functionCallingConfig for a tool_choice."""
    if isinstance(choice, dict):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["name"]]}}
    return {"functionCallingConfig": {"mode": _MODES.get(choice, "AUTO")}}


def generation_config(req: ChatRequest) -> dict[str, Any]:
    """generationConfig with only the settings the request has."""
    config = {"temperature": req.temperature, "topP": req.top_p, "maxOutputTokens": req.max_tokens,
              "stopSequences": req.stop or None, "responseMimeType": "application/json" if req.json_mode else None}
    return {k: v for k, v in config.items() if v is not None}


def parse_usage(raw: Mapping[str, Any] | None) -> Usage:
    """Usage: billable output is candidates plus thoughts."""
    raw = raw or {}
    prompt, thoughts = int(raw.get("promptTokenCount") or 0), int(raw.get("thoughtsTokenCount") or 0)
    completion = int(raw.get("candidatesTokenCount") or 0) + thoughts
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=int(raw.get("totalTokenCount") or prompt + completion),
                 cached_tokens=int(raw.get("cachedContentTokenCount") or 0), reasoning_tokens=thoughts)


def read_parts(candidate: Mapping[str, Any], first_call: int) -> tuple[str, list[ToolCall]]:
    """Visible text and function calls of a candidate; call ids are synthesised as call_<n>."""
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    calls = [p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict)]
    return text, [ToolCall(id=f"call_{first_call + i}", name=c.get("name") or "", arguments=arguments_text(c.get("args")))
                  for i, c in enumerate(calls)]


def _is_hard_quota(details: list[dict[str, Any]]) -> bool:
    violations = [v for d in details if str(d.get("@type", "")).endswith("QuotaFailure")
                  for v in d.get("violations") or []]
    return any("PerDay" in str(v.get("quotaId", "")) or str(v.get("quotaValue")) == "0" for v in violations)


class GeminiProvider(Provider):
    """Gemini through generateContent / streamGenerateContent?alt=sse; the key travels in a header."""

    id = "google_gemini"
    label = "Google Gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    api_version = "v1beta"

    def _auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.credentials.api_key.reveal()}

    def _model_path(self, model: str, action: str) -> str:
        return f"/{self.api_version}/models/{quote(model.removeprefix('models/'))}:{action}"

    def _probe_key(self) -> None:
        self._get_json(f"/{self.api_version}/models", params={"pageSize": "1"})

    def _chat_call(self, req: ChatRequest, *, stream: bool) -> HttpCall:
        body: dict[str, Any] = {"contents": to_contents(req.messages)}
        system = "\n\n".join(m.content or "" for m in req.messages if m.role == "system")
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if config := generation_config(req):
            body["generationConfig"] = config
        if req.tools:
            body["tools"] = [{"functionDeclarations": [
                {"name": t.name, "description": t.description, "parameters": clean_schema(t.parameters)}
                for t in req.tools]}]
            if req.tool_choice is not None:
                body["toolConfig"] = tool_config(req.tool_choice)
        action = "streamGenerateContent" if stream else "generateContent"
        return HttpCall(self._model_path(req.model, action), body, {"alt": "sse"} if stream else None)

    def _candidate(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        candidates = payload.get("candidates") or []
        if candidates:
            return candidates[0]
        reason = (payload.get("promptFeedback") or {}).get("blockReason")
        if reason:
            raise errors.ContentFilterError(self._scrub(f"{self.label}: the prompt was blocked ({reason})"),
                                            provider=self.id, upstream_status=200)
        return {}

    def _parse_chat(self, payload: dict[str, Any]) -> ChatResponse:
        candidate = self._candidate(payload)
        text, calls = read_parts(candidate, 0)
        return ChatResponse(id=payload.get("responseId") or "", model=payload.get("modelVersion") or "",
                            content=text if text or not calls else None,
                            finish_reason=map_finish(candidate.get("finishReason"), bool(calls)),
                            usage=parse_usage(payload.get("usageMetadata")), tool_calls=calls)

    def _parse_stream(self, events: Iterator[ServerSentEvent], state: StreamState) -> Iterator[StreamChunk]:
        calls_seen = 0   # no terminator: the stream is complete only once a finishReason arrived
        for event in events:
            payload = self._load_event(event)
            if payload is None:
                continue
            if payload.get("error"):
                raise self._inband_error(payload)
            state.note(model=payload.get("modelVersion"), id=payload.get("responseId"))
            if payload.get("usageMetadata"):
                state.usage = parse_usage(payload["usageMetadata"])   # cumulative on every chunk
            candidate = self._candidate(payload)
            text, calls = read_parts(candidate, calls_seen)
            deltas = [ToolCallDelta(index=calls_seen + i, id=c.id, name=c.name, arguments=c.arguments)
                      for i, c in enumerate(calls)]
            calls_seen += len(calls)
            if candidate.get("finishReason"):
                state.finish_reason = map_finish(candidate["finishReason"], calls_seen > 0)
            if text or deltas:
                yield StreamChunk(content=text, tool_calls=deltas, model=state.model, id=state.id)

    def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        """:embedContent for one text, :batchEmbedContents for several; vectors in input order."""
        model = f"models/{req.model.removeprefix('models/')}"
        items = [self._embed_item(model, text, req.dimensions) for text in req.inputs]
        if len(items) == 1:
            payload = self._post_json(self._model_path(req.model, "embedContent"), items[0])
            vectors = [(payload.get("embedding") or {}).get("values")]
        else:
            payload = self._post_json(self._model_path(req.model, "batchEmbedContents"), {"requests": items})
            vectors = [item.get("values") for item in payload.get("embeddings") or []]
        if len(vectors) != len(req.inputs) or any(v is None for v in vectors):
            raise errors.UpstreamServerError(f"{self.label}: asked for {len(req.inputs)} embeddings, "
                                             f"got {len(vectors)}", provider=self.id)
        usage = parse_usage(payload["usageMetadata"]) if payload.get("usageMetadata") else estimate_usage(req.inputs)
        return EmbeddingResult(vectors=[[float(x) for x in v] for v in vectors], model=req.model, usage=usage)

    @staticmethod
    def _embed_item(model: str, text: str, dimensions: int | None) -> dict[str, Any]:
        item: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
        if dimensions:
            item["outputDimensionality"] = dimensions
        return item

    def _error_info(self, body: Any, *, status: int | None, headers: Mapping[str, str]) -> UpstreamErrorInfo:
        info = super()._error_info(body, status=status, headers=headers)
        err = error_object(body) or {}
        details = [d for d in err.get("details") or [] if isinstance(d, dict)]
        reason = next((d.get("reason") for d in details if str(d.get("@type", "")).endswith("ErrorInfo")), None)
        delay = next((parse_duration(d.get("retryDelay")) for d in details
                      if str(d.get("@type", "")).endswith("RetryInfo")), None)
        code = "quota_exceeded_per_day" if _is_hard_quota(details) else reason
        return UpstreamErrorInfo(info.status, code=code, type=err.get("status") or info.type,
                                 message=info.message, retry_after=delay if delay is not None else info.retry_after)
