"""The OpenAI chat-completions wire family: OpenAI, Azure, DeepSeek, Zhipu GLM and Moonshot Kimi.

One ``Flavor`` per provider holds the differences (providers.md §3, §4, §7, §8, §9); all framing
code is shared.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulator import catalog
from simulator.content import ChatInput, text_of
from simulator.embeddings import openai_embeddings
from simulator.faults import inband_error
from simulator.wire import (BadRequestError, Call, Reply, StreamFrames, Template, json_reply,
                            slot, sse)

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"
AZURE_MODEL = "gpt-4o-2024-11-20"
_SAFE = {"filtered": False, "severity": "safe"}
FILTER_OK = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": {
    **FILTER_OK, "jailbreak": {"filtered": False, "detected": False}}}]


@dataclass(frozen=True)
class Flavor:
    """What one OpenAI-format provider does differently."""

    fingerprint: str | None = "fp_sim0001"
    refusal: bool = True  # deltas/messages carry "refusal": null
    usage_chunk: bool = True  # include_usage adds a final choices:[] usage chunk
    usage_on_finish: bool = False  # usage top-level on the finish chunk, always
    usage_in_choice: bool = False  # Kimi: usage inside choices[0] of the finish chunk
    glm: bool = False  # GLM: role on every delta, no object/fingerprint, whole tool calls
    azure: bool = False
    keepalive: bool = False  # DeepSeek ": keep-alive" comments before the first chunk
    has_embeddings: bool = False
    balance: str | None = None


FLAVORS = {
    "openai": Flavor(has_embeddings=True),
    "azure": Flavor(azure=True, has_embeddings=True),
    "deepseek": Flavor(fingerprint="fp_sim_prod0820_fp8_kvcache", refusal=False,
                       usage_on_finish=True, keepalive=True, balance="user/balance"),
    "kimi": Flavor(fingerprint="fpv0_sim00001", refusal=False, usage_chunk=False,
                   usage_in_choice=True, balance="users/me/balance"),
    "glm": Flavor(fingerprint=None, refusal=False, usage_chunk=False, usage_on_finish=True,
                  glm=True, has_embeddings=True),
}


def resolve(provider: str, method: str, rest: str) -> str | None:
    """The endpoint name for a provider-relative path, or None (404)."""
    flavor = FLAVORS[provider]
    routes = {("POST", "chat/completions"): "chat", ("GET", "models"): "models"}
    if flavor.has_embeddings:
        routes[("POST", "embeddings")] = "embeddings"
    if flavor.balance:
        routes[("GET", flavor.balance)] = "balance"
    return routes.get((method, rest.strip("/")))


def precheck(call: Call, environ: dict) -> tuple | None:
    """Azure's dated API answers 404 when the ``api-version`` query is missing."""
    if call.params.get("version") == "classic" and "api-version=" not in environ.get(
            "QUERY_STRING", ""):
        return "not_found", ""
    return None


def _tools(body: dict) -> list:
    """(name, parameters) of each function tool."""
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name"):
            tools.append((function["name"], function.get("parameters")))
    return tools


def parse_chat(call: Call) -> ChatInput:
    """Validate a chat body and extract what the reply depends on."""
    body, messages = call.body, call.body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) for m in messages):
        raise BadRequestError("'messages' must be a non-empty array of message objects")
    model = body.get("model") or call.params.get("deployment")
    if not model:
        raise BadRequestError("you must provide a model parameter")
    last = messages[-1]
    role = last.get("role")
    options = body.get("stream_options") or {}
    return ChatInput(
        model=str(model), stream=bool(body.get("stream")),
        include_usage=bool(options.get("include_usage")),
        text_chars=sum(len(text_of(m.get("content"))) for m in messages),
        tools=_tools(body), last_kind={"user": "user", "tool": "tool"}.get(role, "other"),
        tool_result=text_of(last.get("content")) if role == "tool" else "",
        tools_disabled=body.get("tool_choice") == "none")


def _model(call: Call) -> str:
    """Response model: the requested one (Azure: the deployment's fixed underlying model)."""
    return AZURE_MODEL if call.provider == "azure" else call.chat.model


def _rid(call: Call) -> str:
    """Deterministic response id in the provider's style."""
    if FLAVORS[call.provider].glm:
        return f"20261125{call.seq:022d}"
    return f"chatcmpl-sim{call.seq:020d}"


def _usage(call: Call) -> dict:
    """The provider's usage object for this call's plan."""
    p, c = call.plan.prompt_tokens, call.plan.completion_tokens
    usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if call.provider in ("openai", "azure"):
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0}
    elif call.provider == "deepseek":
        usage.update(prompt_tokens_details={"cached_tokens": 0}, prompt_cache_hit_tokens=0,
                     prompt_cache_miss_tokens=p, completion_tokens_details={"reasoning_tokens": 0})
    elif call.provider == "glm":
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
    return usage


def _tool_call(call: Call, *, whole: bool) -> dict:
    """A complete tool call (``whole``) or its opening delta with empty arguments."""
    plan = call.plan
    item = {"id": f"call_sim{call.seq:016d}", "type": "function",
            "function": {"name": plan.tool_name, "arguments": plan.tool_json if whole else ""}}
    if FLAVORS[call.provider].glm or not whole:
        item = {"index": 0, **item}
    return item


def _finish(call: Call) -> str:
    """finish_reason of the reply."""
    return "tool_calls" if call.plan.tool_name else "stop"


def chat_reply(call: Call) -> Reply:
    """The non-streamed chat completion."""
    flavor, plan = FLAVORS[call.provider], call.plan
    message = {"role": "assistant", "content": None if plan.tool_name else plan.text}
    if flavor.refusal:
        message.update(refusal=None, annotations=[])
    if plan.tool_name:
        message["tool_calls"] = [_tool_call(call, whole=True)]
    choice = {"index": 0, "message": message, "finish_reason": _finish(call)}
    if not flavor.glm:
        choice["logprobs"] = None
    if flavor.azure:
        choice["content_filter_results"] = FILTER_OK
    out = {"id": _rid(call), "object": "chat.completion", "created": call.created,
           "model": _model(call), "choices": [choice], "usage": _usage(call)}
    if flavor.glm:
        out = {"id": out["id"], "request_id": out["id"], **out}
        del out["object"]
    if flavor.azure:
        out["prompt_filter_results"] = PROMPT_FILTER
    if call.provider == "openai":
        out["service_tier"] = "default"
    if flavor.fingerprint:
        out["system_fingerprint"] = flavor.fingerprint
    return json_reply(200, out)


class _Chunker:
    """Builds ``chat.completion.chunk`` events for one call."""

    def __init__(self, call: Call) -> None:
        """Precompute the fields every chunk repeats."""
        self.call, self.flavor = call, FLAVORS[call.provider]
        self.usage_null = call.chat.include_usage and self.flavor.usage_chunk
        head = {"id": _rid(call), "object": "chat.completion.chunk", "created": call.created,
                "model": _model(call)}
        if self.flavor.glm:
            del head["object"]
        if self.flavor.fingerprint:
            head["system_fingerprint"] = self.flavor.fingerprint
        self.head = head

    def chunk(self, delta: dict, *, finish: str | None = None, usage=None, filtered=True) -> bytes:
        """One chunk event with a single choice."""
        return sse(self.chunk_obj(delta, finish=finish, usage=usage, filtered=filtered))

    def template(self, delta: dict) -> Template:
        """A content chunk whose delta holds ``slot(0)``, for fast re-rendering."""
        return Template(self.chunk_obj(delta))

    def chunk_obj(self, delta: dict, *, finish: str | None = None, usage=None,
                  filtered=True) -> dict:
        """One chunk with a single choice."""
        choice = {"index": 0, "delta": delta}
        if self.flavor.glm:
            if finish:
                choice["finish_reason"] = finish
        else:
            choice.update(logprobs=None, finish_reason=finish)
        if self.flavor.azure:
            choice["content_filter_results"] = FILTER_OK if filtered else {}
        if usage is not None and self.flavor.usage_in_choice:
            choice["usage"] = usage
        out = {**self.head, "choices": [choice]}
        if usage is not None and not self.flavor.usage_in_choice:
            out["usage"] = usage
        elif self.usage_null:
            out["usage"] = None
        return out

    def delta(self, **fields) -> dict:
        """A delta; GLM repeats the role on every delta."""
        return {"role": "assistant", **fields} if self.flavor.glm else fields

    def prelude(self, first_delta: dict | None) -> list:
        """Keep-alives, Azure's prompt-filter chunk and the role chunk."""
        frames = [KEEPALIVE] * int(self.call.settings.get("keepalives", 0) or 0) \
            if self.flavor.keepalive else []
        if self.flavor.azure:
            frames.append(sse({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                               "prompt_filter_results": PROMPT_FILTER}))
        if first_delta is not None:
            frames.append(self.chunk(first_delta, filtered=False))
        return frames

    def finale(self) -> list:
        """The finish chunk and, when asked for, the usage-only chunk."""
        usage = _usage(self.call)
        on_finish = self.flavor.usage_on_finish or self.flavor.usage_in_choice
        frames = [self.chunk(self.delta(content="") if self.flavor.glm else {},
                             finish=_finish(self.call), usage=usage if on_finish else None,
                             filtered=False)]
        if self.call.chat.include_usage and self.flavor.usage_chunk:
            frames.append(sse({**self.head, "choices": [], "usage": usage}))
        return frames


def _role_delta(chunker: _Chunker, **extra) -> dict:
    """The opening assistant delta."""
    delta = {"role": "assistant", "content": "", **extra}
    if chunker.flavor.refusal:
        delta["refusal"] = None
    return delta


def stream_frames(call: Call) -> StreamFrames:
    """The chat stream as frames, in this provider's framing."""
    ch, plan = _Chunker(call), call.plan
    if plan.tool_name and ch.flavor.glm:
        prelude = ch.prelude(None)
        body = [ch.chunk(ch.delta(tool_calls=[_tool_call(call, whole=True)]))]
    elif plan.tool_name:
        prelude = ch.prelude(_role_delta(ch, content=None, tool_calls=[_tool_call(call, whole=False)]))
        template = ch.template({"tool_calls": [{"index": 0, "function": {"arguments": slot(0)}}]})
        body = (template.render(p) for p in plan.tool_pieces)
    else:
        prelude = ch.prelude(None if ch.flavor.glm else _role_delta(ch))
        template = ch.template(ch.delta(content=slot(0)))
        body = (template.render(p) for p in plan.pieces)
    count = 1 if plan.tool_name and ch.flavor.glm else len(plan.pieces)
    malformed = b'data: {"id":"' + _rid(call).encode() + b'","choices":[{"index":0,"delta":{"con\n\n'
    return StreamFrames(prelude=prelude, body=body, count=count, finale=ch.finale(),
                        terminator=[DONE], malformed=malformed, error=sse(inband_error(call.provider, "server_error")))


embeddings = openai_embeddings  # this family's embeddings endpoint


def other(call: Call) -> Reply:
    """Model lists and account balances."""
    if call.endpoint == "balance":
        return json_reply(200, catalog.DEEPSEEK_BALANCE if call.provider == "deepseek"
                          else catalog.KIMI_BALANCE)
    return json_reply(200, catalog.openai_models(call.provider))
