"""Registry, catalogue consistency and stream assembly."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import errors
import providers
from providers.assemble import collect
from providers.base import Provider
from providers.types import Credentials, StreamChunk, ToolCall, ToolCallDelta, Usage
from secret import Secret

IDS = ["openai", "deepseek", "anthropic", "google_gemini", "azure_openai", "glm_4_6", "kimi_k2"]


def test_registry_has_exactly_the_seven_ids_in_catalogue_order():
    assert list(providers.PROVIDERS) == IDS
    catalogue = json.loads((Path(providers.__file__).with_name("catalogue.json")).read_text(encoding="utf-8"))
    assert list(catalogue["providers"]) == IDS


@pytest.mark.parametrize("provider_id", IDS)
def test_each_class_declares_its_own_id_and_public_surface(provider_id):
    cls = providers.get_provider_class(provider_id)
    assert issubclass(cls, Provider) and cls.id == provider_id and cls.label
    for name in ("chat", "stream", "embed", "check_key"):
        assert callable(getattr(cls, name))


def test_unknown_provider():
    with pytest.raises(errors.UnknownProviderError, match="nope"):
        providers.get_provider_class("nope")


def test_build_provider():
    provider = providers.build_provider("deepseek", Credentials(Secret("sk-" + "a" * 32)))
    assert isinstance(provider, providers.PROVIDERS["deepseek"])
    assert "sk-" not in repr(provider.credentials)


@pytest.mark.parametrize("provider_id", IDS)
def test_embeddings_support_matches_catalogue_where_it_is_real(provider_id, make):
    """Anthropic, DeepSeek and Kimi have no embeddings API (the ATOM catalogue lists DeepSeek anyway)."""
    provider = make(provider_id)
    has_embeddings = type(provider).embed is not Provider.embed and getattr(provider, "supports_embeddings", True)
    assert has_embeddings == (provider_id in {"openai", "azure_openai", "google_gemini", "glm_4_6"})


def test_collect_assembles_content_tool_calls_finish_and_usage():
    usage = Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
    chunks = [StreamChunk(content="Hel", model="m", id="i"), StreamChunk(content="lo"),
              StreamChunk(tool_calls=[ToolCallDelta(index=1, id="b", name="g", arguments="{")]),
              StreamChunk(tool_calls=[ToolCallDelta(index=0, id="a", name="f", arguments="{}")]),
              StreamChunk(tool_calls=[ToolCallDelta(index=1, arguments="}")]),
              StreamChunk(finish_reason="tool_calls", usage=usage)]
    resp = collect(chunks)
    assert (resp.content, resp.finish_reason, resp.usage, resp.model, resp.id) == ("Hello", "tool_calls", usage, "m", "i")
    assert resp.tool_calls == [ToolCall("a", "f", "{}"), ToolCall("b", "g", "{}")]


def test_collect_of_pure_tool_call_stream_has_no_content():
    resp = collect([StreamChunk(tool_calls=[ToolCallDelta(index=0, id="a", name="f")]), StreamChunk(finish_reason="tool_calls")])
    assert resp.content is None and resp.tool_calls == [ToolCall("a", "f", "")]
