"""OpenAI-format vendors: one class, and thin subclasses for what really differs."""
from __future__ import annotations

from typing import Any, ClassVar, Iterator, Mapping
from urllib.parse import quote

import errors
from providers.base import HttpCall, Provider, StreamState, estimate_usage
from providers.openai_format import (build_body, decode_embedding, map_finish, parse_chunk_delta, parse_completion,
                                     parse_usage, uses_completion_tokens)
from providers.sse import ServerSentEvent
from providers.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResult, StreamChunk


class OpenAICompatProvider(Provider):
    """A Chat Completions API with Bearer auth; subclasses set ids, URLs and quirks."""

    supports_embeddings: ClassVar[bool] = False
    send_encoding_format: ClassVar[bool] = True
    region_base_urls: ClassVar[Mapping[str, str]] = {}

    def _default_base_url(self) -> str:
        region = (self.credentials.metadata.get("region") or "cn").lower()
        return self.region_base_urls.get(region) or self.default_base_url

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.api_key.reveal()}"}

    def _chat_path(self, req: ChatRequest) -> str:
        return "/chat/completions"

    def _embed_path(self, req: EmbeddingRequest) -> str:
        return "/embeddings"

    def _query(self) -> dict[str, str] | None:
        return None

    def _max_tokens_field(self, model: str) -> str:
        return "max_tokens"

    def _chat_call(self, req: ChatRequest, *, stream: bool) -> HttpCall:
        body = build_body(req, max_tokens_field=self._max_tokens_field(req.model))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return HttpCall(self._chat_path(req), body, self._query())

    def _parse_chat(self, payload: dict[str, Any]) -> ChatResponse:
        return parse_completion(payload)

    def _parse_stream(self, events: Iterator[ServerSentEvent], state: StreamState) -> Iterator[StreamChunk]:
        for event in events:
            if event.data.startswith("[DONE]"):
                state.terminated = True
                return
            payload = self._load_event(event)
            if payload is None:
                continue
            if payload.get("error"):
                raise self._inband_error(payload)
            chunk = self._read_chunk(payload, state)
            if chunk is not None:
                yield chunk

    def _read_chunk(self, payload: dict[str, Any], state: StreamState) -> StreamChunk | None:
        state.note(model=payload.get("model"), id=payload.get("id"))
        choices = payload.get("choices") or []
        choice = choices[0] if choices else {}   # Azure's first chunk and the usage chunk: choices == []
        # usage is top-level (OpenAI, Azure, DeepSeek, GLM) or inside the choice (Kimi)
        usage = parse_usage(payload.get("usage")) or parse_usage(choice.get("usage"))
        if usage:
            state.usage = usage
        if choice.get("finish_reason"):
            state.finish_reason = map_finish(choice["finish_reason"])
        chunk = parse_chunk_delta(choice)
        if chunk is not None:
            chunk.model, chunk.id = state.model, state.id
        return chunk

    def embed(self, req: EmbeddingRequest) -> EmbeddingResult:
        """Embed texts through POST /embeddings (float vectors, input order)."""
        if not self.supports_embeddings:
            return super().embed(req)
        body: dict[str, Any] = {"model": req.model, "input": req.inputs}
        if req.dimensions:
            body["dimensions"] = req.dimensions
        if self.send_encoding_format:
            body["encoding_format"] = "float"
        payload = self._post_json(self._embed_path(req), body, params=self._query())
        data = sorted(payload.get("data") or [], key=lambda item: item.get("index", 0))
        if len(data) != len(req.inputs):
            raise errors.UpstreamServerError(
                f"{self.label}: asked for {len(req.inputs)} embeddings, got {len(data)}", provider=self.id)
        return EmbeddingResult(vectors=[decode_embedding(item.get("embedding")) for item in data],
                               model=payload.get("model") or req.model,
                               usage=parse_usage(payload.get("usage")) or estimate_usage(req.inputs))


class OpenAIProvider(OpenAICompatProvider):
    """OpenAI's own API."""

    id = "openai"
    label = "OpenAI"
    default_base_url = "https://api.openai.com/v1"
    supports_embeddings = True

    def _max_tokens_field(self, model: str) -> str:
        return "max_completion_tokens" if uses_completion_tokens(model) else "max_tokens"


class DeepSeekProvider(OpenAICompatProvider):
    """DeepSeek (no embeddings API)."""

    id = "deepseek"
    label = "DeepSeek"
    default_base_url = "https://api.deepseek.com"


class KimiProvider(OpenAICompatProvider):
    """Moonshot AI Kimi; China and international accounts live on different hosts."""

    id = "kimi_k2"
    label = "Moonshot Kimi"
    default_base_url = "https://api.moonshot.cn/v1"
    region_base_urls = {"cn": "https://api.moonshot.cn/v1", "intl": "https://api.moonshot.ai/v1"}


class GLMProvider(OpenAICompatProvider):
    """Zhipu GLM (BigModel in China, Z.ai internationally)."""

    id = "glm_4_6"
    label = "Zhipu GLM"
    default_base_url = "https://open.bigmodel.cn/api/paas/v4"
    region_base_urls = {"cn": "https://open.bigmodel.cn/api/paas/v4", "intl": "https://api.z.ai/api/paas/v4"}
    supports_embeddings = True
    send_encoding_format = False   # not documented by Zhipu; it always answers floats


class AzureOpenAIProvider(OpenAICompatProvider):
    """Azure OpenAI on the classic deployment API (`api-key` header, dated api-version)."""

    id = "azure_openai"
    label = "Azure OpenAI"
    supports_embeddings = True
    default_api_version = "2024-10-21"
    _PING = [{"role": "user", "content": "ping"}]

    def _resolve_base_url(self) -> str:
        endpoint = self.credentials.metadata.get("endpoint") or self.settings.base_urls.get(self.id)
        if not endpoint:
            raise errors.BadRequestError("Azure OpenAI needs the resource endpoint: save the key with "
                                         "metadata endpoint=https://<resource>.openai.azure.com")
        return endpoint.rstrip("/").removesuffix("/openai")

    def _auth_headers(self) -> dict[str, str]:
        return {"api-key": self.credentials.api_key.reveal()}

    def _deployment_path(self, name: str, operation: str) -> str:
        return f"/openai/deployments/{quote(name, safe='')}/{operation}"

    def _chat_path(self, req: ChatRequest) -> str:
        return self._deployment_path(self.credentials.metadata.get("deployment") or req.model, "chat/completions")

    def _embed_path(self, req: EmbeddingRequest) -> str:
        name = self.credentials.metadata.get("embedding_deployment") or req.model
        return self._deployment_path(name, "embeddings")

    def _query(self) -> dict[str, str]:
        return {"api-version": self.credentials.metadata.get("api_version") or self.default_api_version}

    def _max_tokens_field(self, model: str) -> str:
        name = self.credentials.metadata.get("deployment") or model
        return "max_completion_tokens" if uses_completion_tokens(name) else "max_tokens"

    def _probe_key(self) -> None:
        """A real 1-token chat to the deployment (costs a few prompt tokens plus 1 output token).

        Azure has no free call that proves a deployment exists. Without a deployment in the
        metadata only the key and endpoint are checked, with the free GET /openai/models.
        """
        deployment = self.credentials.metadata.get("deployment")
        if not deployment:
            self._get_json("/openai/models", params=self._query())
            return
        path = self._deployment_path(deployment, "chat/completions")
        try:
            self._ping(path, "max_tokens")
        except errors.UpstreamBadRequestError as exc:
            if "max_completion_tokens" not in exc.message:
                raise
            self._ping(path, "max_completion_tokens")   # reasoning-model deployments reject max_tokens
        except errors.ModelNotFoundError as exc:
            message = f"{self.label}: deployment '{deployment}' does not exist on this resource. {exc.message}"
            raise errors.NoAccessError(self._scrub(message), provider=self.id, upstream_status=404) from None

    def _ping(self, path: str, field: str) -> None:
        self._post_json(path, {"messages": self._PING, field: 1}, params=self._query())
