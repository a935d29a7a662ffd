"""ATOM's GLM-4.6 and Kimi K2 handlers (contract §4): attributes, key tests and chat."""
from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

import glm_46_handler_real
import kimi_k2_handler_real
import legacy_handler
from config import Config
from glm_46_handler_real import GLM46ServiceReal
from kimi_k2_handler_real import KimiK2ServiceReal
from providers.types import ProviderSettings, Timeouts
from simulator.harness import SimulatorProcess
from user_api_key_service import UserAPIKeyService
from tests.legacy.conftest import (CLASSES, DEFAULTS, HI, KEYS, NAMES, UNREACHABLE, chats, expected_usage,
                                  make)

# -- attributes, module level, configure ------------------------------------------------------------

def test_original_attributes_and_module_level(short):
    handler = CLASSES[short]()
    base_url, model, _ = DEFAULTS[short]
    assert (handler.api_key, handler.base_url, handler.default_model, handler.timeout) == ("", base_url, model, 60)
    module, accessor = {"glm": (glm_46_handler_real, "get_glm_46_service_real"),
                        "kimi": (kimi_k2_handler_real, "get_kimi_k2_service_real")}[short]
    instance = getattr(module, accessor)()
    assert isinstance(instance, CLASSES[short]) and instance is getattr(module, accessor)()
    assert instance is getattr(module, {"glm": "glm_46_service_real", "kimi": "kimi_k2_service_real"}[short])


def test_glm_has_embeddings_and_kimi_does_not():
    assert callable(GLM46ServiceReal().embedding)
    assert not hasattr(KimiK2ServiceReal(), "embedding")


@pytest.mark.parametrize("short, region, url", [
    ("glm", "intl", "https://api.z.ai/api/paas/v4"), ("glm", "cn", "https://open.bigmodel.cn/api/paas/v4"),
    ("kimi", "intl", "https://api.moonshot.ai/v1"), ("kimi", "CN", "https://api.moonshot.cn/v1"),
    ("kimi", "mars", "https://api.moonshot.cn/v1")])
def test_configure_region_picks_the_base_url(short, region, url):
    handler = CLASSES[short]()
    handler.configure(metadata={"region": region})
    assert handler.base_url == url


def test_configure_settings_override_timeouts_and_precedence(short):
    provider_id = {"glm": "glm_4_6", "kimi": "kimi_k2"}[short]
    settings = ProviderSettings(timeouts=Timeouts(connect=2.0, read=33.0),
                                base_urls={provider_id: "http://operator.example/v1"})
    handler = CLASSES[short]()
    handler.configure(metadata={"region": "intl"}, settings=settings)
    assert (handler.base_url, handler.timeout, handler._connect_timeout) == ("http://operator.example/v1", 33.0, 2.0)
    handler.configure(metadata={"base_url": "http://per-key.example/v1"}, settings=settings)
    assert handler.base_url == "http://per-key.example/v1"   # per-key beats the operator override


def test_configure_keeps_a_base_url_the_caller_set(short):
    handler = CLASSES[short]()
    handler.base_url = "http://caller.example/v1"
    handler.configure(metadata={"region": "intl", "base_url": "http://per-key.example"})
    assert handler.base_url == "http://caller.example/v1"


def test_the_instance_base_url_is_where_requests_go(sim, short):
    handler = CLASSES[short]()
    handler.api_key = KEYS[short]
    handler.configure(metadata={"region": "intl"})
    handler.base_url = sim.url_for(short)          # changed after configure: still honoured
    assert handler.test_connection()["success"] is True
    assert len(sim.requests(short)) == 1


def test_key_test_through_the_vault_service_uses_configure(sim, tmp_path):
    config = Config(data_dir=tmp_path, encryption_keys=Fernet.generate_key().decode(),
                    base_urls={"glm_4_6": sim.url_for("glm"), "kimi_k2": sim.url_for("kimi")})
    service = UserAPIKeyService(str(tmp_path / "keys.db"), config=config)
    try:
        for short, provider_id in (("glm", "glm_4_6"), ("kimi", "kimi_k2")):
            service.save_api_key("u1", provider_id, KEYS[short])
            result = service.test_api_key("u1", provider_id)
            assert result["success"] is True and result["message"] == f"{NAMES[short]} API connection successful"
            [request] = sim.requests(short)
            assert (request["method"], request["endpoint"]) == ("GET", "models")
            assert request["key_hash"] == SimulatorProcess.key_hash(KEYS[short])
    finally:
        service.engine.dispose()


# -- test_connection ---------------------------------------------------------------------------------

def test_connection_success_uses_the_free_models_endpoint(sim, short):
    result = make(sim, short).test_connection()
    _, model, vendor = DEFAULTS[short]
    assert result == {"success": True, "message": f"{NAMES[short]} API connection successful", "status": "ok",
                      "details": {"model": model, "provider": vendor}}
    requests = sim.requests(short)
    assert [(r["method"], r["endpoint"]) for r in requests] == [("GET", "models")]
    assert not chats(sim, short)


def test_connection_invalid_key(sim, short):
    key = KEYS[short].replace("test", "invalid")
    result = make(sim, short, key).test_connection()
    assert result["success"] is False and result["status"] == "invalid_key" and result["status_code"] == 401
    assert result["message"].startswith(f"{NAMES[short]} API test failed: ")
    assert key not in str(result)


def test_connection_without_key_makes_no_request(sim, short):
    result = make(sim, short, "").test_connection()
    assert result == {"success": False, "message": f"{NAMES[short]} API key not configured"}
    assert sim.requests() == []


def test_connection_unreachable(short):
    handler = CLASSES[short]()
    handler.api_key, handler.base_url = KEYS[short], UNREACHABLE
    result = handler.test_connection()
    assert result["success"] is False and result["status"] == "unreachable" and "status_code" not in result
    assert result["message"].startswith(f"{NAMES[short]} API test failed: ")


def test_connection_unexpected_error_is_scrubbed(short, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError(f"boom with {KEYS[short]} inside")

    monkeypatch.setattr(legacy_handler, "build_provider", explode)
    handler = CLASSES[short]()
    handler.api_key = KEYS[short]
    result = handler.test_connection()
    assert result["success"] is False
    assert result["message"].startswith(f"{NAMES[short]} connection test error: RuntimeError: boom with ")
    assert KEYS[short] not in result["message"] and "[REDACTED]" in result["message"]


# -- chat_completion ---------------------------------------------------------------------------------

def test_chat_exact_content_usage_and_request(sim, short):
    result = make(sim, short).chat_completion(HI)
    assert result == {"success": True, "content": f"Hello from {short}.", "usage": expected_usage(HI),
                      "model": DEFAULTS[short][1], "finish_reason": "stop"}
    [request] = chats(sim, short)
    body = request["body"]
    assert (body["model"], body["temperature"], body["messages"]) == (DEFAULTS[short][1], 0.7, HI)
    assert "max_tokens" not in body and not request["stream"]


def test_chat_model_max_tokens_and_usage_follow_the_simulator(sim, short):
    sim.configure(short, chunks=7)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x" * 41}]
    result = make(sim, short).chat_completion(messages, model="some-model", max_tokens=50, temperature=0.1)
    assert result["usage"] == expected_usage(messages, completion=7) and result["model"] == "some-model"
    body = chats(sim, short)[0]["body"]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("some-model", 50, 0.1)


def test_chat_options_are_allow_listed(sim, short):
    tool = {"type": "function", "function": {"name": "weather", "description": "Weather",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    make(sim, short).chat_completion(HI, top_p=0.5, stop="END", tools=[tool], tool_choice="auto",
                                     response_format={"type": "json_object"}, user="someone", logit_bias={"1": 2})
    body = chats(sim, short)[0]["body"]
    assert (body["top_p"], body["stop"], body["tool_choice"]) == (0.5, ["END"], "auto")
    assert body["response_format"] == {"type": "json_object"}
    assert body["tools"][0]["function"]["name"] == "weather"
    assert "user" not in body and "logit_bias" not in body


def test_chat_tool_call_is_returned(sim, short):
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}}}}
    result = make(sim, short).chat_completion(HI, tools=[tool], tool_choice={"type": "function",
                                                                              "function": {"name": "weather"}})
    assert result["success"] and result["finish_reason"] == "tool_calls" and result["content"] is None
    assert result["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}


def test_chat_without_key(sim, short):
    assert make(sim, short, "").chat_completion(HI) == {"success": False,
                                                        "error": f"{NAMES[short]} API key not configured"}
    assert sim.requests() == []


def test_chat_quota_error(sim, short):
    sim.script(short, {"fault": "quota"})
    result = make(sim, short).chat_completion(HI)
    detail = {"glm": "余额不足", "kimi": "insufficient balance"}[short]
    assert result["success"] is False and result["status_code"] == 429
    assert result["error"].startswith(f"{NAMES[short]} API error: ") and detail in result["error"]
    assert result["error_code"] == "insufficient_quota"


def test_glm_quota_code_1113_message(sim):
    sim.script("glm", {"fault": "quota"})
    result = make(sim, "glm").chat_completion(HI)
    assert result["error"] == "GLM-4.6 API error: Zhipu GLM: 余额不足或无可用资源包,请充值。 (HTTP 429)"


def test_chat_timeout(sim, short):
    sim.script(short, {"fault": "hang", "hang_s": 5})
    handler = make(sim, short)
    handler.timeout = 0.5
    started = time.monotonic()
    result = handler.chat_completion(HI)
    assert result == {"success": False, "error": f"{NAMES[short]} API request timeout",
                      "error_code": "upstream_timeout"}
    assert time.monotonic() - started < 4


def test_chat_connection_reset_is_a_service_error(sim, short):
    sim.script(short, {"fault": "reset"})
    result = make(sim, short).chat_completion(HI)
    assert result["success"] is False and "status_code" not in result
    assert result["error"].startswith(f"{NAMES[short]} service error: ")


def test_chat_bad_message_is_a_service_error(sim, short):
    result = make(sim, short).chat_completion([{"role": "wizard", "content": "hi"}])
    assert result["success"] is False and result["error"].startswith(f"{NAMES[short]} service error: ")
    assert sim.requests() == []


def test_chat_error_never_contains_the_key(sim, short):
    sim.script(short, {"status": 400, "body": {"error": {"message": f"bad key {KEYS[short]}", "type": "x"}}})
    result = make(sim, short).chat_completion(HI)
    assert result["success"] is False and KEYS[short] not in str(result)


