"""The one internal format every provider translates to and from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from secret import Secret

Role = Literal["system", "user", "assistant", "tool"]
# OpenAI's finish reasons; every provider maps onto these.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True)
class Credentials:
    """What a provider needs to authenticate: the key plus per-key metadata.

    metadata keys: Azure `endpoint`, `deployment`, `api_version`; GLM/Kimi `region` ("cn"|"intl");
    any provider `base_url` (a per-key override).
    """

    api_key: Secret
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Timeouts:
    """Connect and read deadlines in seconds."""

    connect: float = 5.0
    read: float = 120.0
    first_token: float | None = None   # streams: deadline for the first content, then `read` applies


@dataclass(frozen=True)
class ProviderSettings:
    """Operator settings shared by all providers (built once from Config)."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    base_urls: Mapping[str, str] = field(default_factory=dict)   # provider id -> env override
    anthropic_default_max_tokens: int = 4096


@dataclass
class ToolCall:
    """A complete function call requested by the model."""

    id: str
    name: str
    arguments: str  # JSON text, exactly as OpenAI carries it


@dataclass
class Tool:
    """A function the model may call."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass
class Message:
    """One chat turn. content is text (None for a pure tool-call turn)."""

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None   # role == "tool"
    name: str | None = None           # function name for role == "tool" (Gemini needs it)


# tool_choice: "auto" | "none" | "required" | {"name": "<function>"}
ToolChoice = str | dict


@dataclass
class ChatRequest:
    """A provider-neutral chat request."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    json_mode: bool = False
    top_p: float | None = None


@dataclass
class Usage:
    """Token counts normalised to OpenAI's names, from the provider's own figures."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False


@dataclass
class ChatResponse:
    """A complete chat answer."""

    id: str
    model: str                      # the upstream model that answered
    content: str | None
    finish_reason: FinishReason | str
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class ToolCallDelta:
    """A fragment of a tool call in a stream (OpenAI semantics: index identifies the call)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class StreamChunk:
    """One piece of a streamed answer. The last chunk carries finish_reason; usage when known."""

    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: FinishReason | str | None = None
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None


@dataclass
class EmbeddingRequest:
    """Texts to embed."""

    model: str
    inputs: list[str]
    dimensions: int | None = None


@dataclass
class EmbeddingResult:
    """Vectors in input order, plus usage."""

    vectors: list[list[float]]
    model: str
    usage: Usage


KeyStatus = Literal["ok", "invalid_key", "no_access", "quota_exhausted", "unreachable",
                    "timeout", "rate_limited", "error"]


@dataclass
class KeyCheckResult:
    """The verdict of a key test, phrased for a person."""

    ok: bool
    status: KeyStatus
    message: str
    status_code: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
