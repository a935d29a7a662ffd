"""JSON Schemas (OpenAPI 3.1 components) of the gateway's request and response bodies.

Limits and enums come from the modules that enforce them, so the description follows the code.
"""
from __future__ import annotations

from typing import Any

import catalogue
import limits
import openai_wire
from config import Config
from key_manager import REGIONS, USER_ID_RE
from providers import PROVIDERS as ADAPTERS
from providers.base import Provider

PROVIDERS = catalogue.provider_ids()
EMBEDDING_PROVIDERS = [p for p in PROVIDERS if ADAPTERS[p].embed is not Provider.embed
                       and getattr(ADAPTERS[p], "supports_embeddings", True)]
STR, INT, NUM, BOOL = ({"type": t} for t in ("string", "integer", "number", "boolean"))
ANY: dict[str, Any] = {}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, Any], required: list[str] | str = "all", **extra: Any) -> dict[str, Any]:
    """An object schema; every property is required unless told otherwise."""
    names = list(props) if required == "all" else required
    return {"type": "object", "properties": props, "required": names, **extra}


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An array schema."""
    return {"type": "array", "items": items, **extra}


def _model_pattern(providers: list[str]) -> str:
    return "^(auto|(" + "|".join(providers) + ")/.+)$"


TRUE, FALSE = {"const": True}, {"const": False}
ISO = {"type": "string", "description": "ISO 8601 date-time"}
USER_ID = {"type": "string", "pattern": USER_ID_RE.pattern, "not": {"pattern": r"\.\."},
           "description": "1-128 letters, digits or . _ @ : + - (no '..')"}
PROVIDER_ID = {"type": "string", "enum": PROVIDERS}
KEY_TEXT = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": r"\S"}
URL = {"type": "string", "maxLength": 500,
       "description": "An http(s) URL; IPv6 literal hosts (http://[::1]:8080) are accepted too",
       "pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.\-_~%!$&'()*+,;=:]+([/?#][!-~]*)?\s*$"}

_ERRORS = {
    "AtomError": obj({"success": FALSE, "error": STR, "code": nullable(STR)},
                     description="Error envelope of every path outside /v1"),
    "OpenAIError": obj({"error": obj({"message": STR, "type": STR, "code": nullable(STR),
                                      "param": nullable(STR)})},
                       description="OpenAI's error shape, used under /v1"),
}

_KEYS = {
    "ProviderInfo": obj({"name": STR, "description": STR, "acquisition_url": STR,
                         "expected_format": STR, "capabilities": array(STR),
                         "models": array(STR)}),
    "ProvidersResponse": obj({"success": TRUE, "providers": {
        "type": "object", "propertyNames": PROVIDER_ID, "additionalProperties": ref("ProviderInfo")}}),
    "TestResult": obj({"success": BOOL, "message": STR, "status": STR, "status_code": INT,
                       "details": {"type": "object"}, "tested_at": nullable(ISO)},
                      ["success", "message"], description="Verdict of a key test"),
    "SaveKeyRequest": obj({
        "api_key": {"type": "string", "maxLength": Config.max_key_chars, "pattern": r"^\s*[!-~]+\s*$",
                    "description": "Printable ASCII without inner spaces (outer ones are trimmed)"},
        "endpoint": nullable(URL), "base_url": nullable(URL),
        "deployment": nullable({"type": "string", "pattern": r"^\s*[A-Za-z0-9._\-]{1,64}\s*$"}),
        "api_version": nullable(KEY_TEXT),
        "region": nullable({"type": "string", "pattern": r"^\s*(" + "|".join(REGIONS) + r")\s*$"}),
    }, ["api_key"], description="Azure needs endpoint and deployment; GLM/Kimi take a region"),
    "KeyInfo": obj({"masked_key": STR, "fingerprint": STR, "key_version": STR,
                    "metadata": {"type": "object", "additionalProperties": STR},
                    "created_at": nullable(ISO), "updated_at": nullable(ISO)}),
    "SaveKeyResponse": obj({"success": TRUE, "message": STR, "key": ref("KeyInfo"),
                            "test_result": ref("TestResult")}, ["success", "message", "key"]),
    "DeleteKeyResponse": obj({"success": TRUE, "deleted": BOOL, "message": STR}),
    "TestKeyResponse": obj({"success": TRUE, "test_result": ref("TestResult")}),
    "KeysResponse": obj({"success": TRUE, "user_id": STR,
                         "api_keys": {"type": "object", "additionalProperties": STR},
                         "configured_services": array(STR)}),
    "ServicesResponse": obj({"success": TRUE, "user_id": STR, "total_configured": INT,
                             "configured_services": array({"allOf": [
                                 ref("ProviderInfo"), obj({"service_name": PROVIDER_ID})]})}),
    "ProviderStatus": obj({"configured": BOOL, "test_result": ref("TestResult"),
                           "provider_info": ref("ProviderInfo"), "masked_key": STR,
                           "key_health": STR}, ["configured", "test_result", "provider_info"]),
    "StatusResponse": obj({"success": TRUE, "user_id": STR, "status": {
        "type": "object", "additionalProperties": ref("ProviderStatus")},
        "summary": obj({n: INT for n in ("total_available", "total_configured", "total_working")})}),
    "AuditEvent": obj({"id": INT, "ts": nullable(ISO), "actor": STR, "user_id": STR,
                       "action": STR, "provider": STR, "outcome": STR, "ip": STR, "detail": STR}),
    "AuditResponse": obj({"success": TRUE, "user_id": STR, "events": array(ref("AuditEvent")),
                          "total": INT, "next_before": nullable(INT)}),
}

_TOTALS = {n: INT for n in ("requests", "prompt_tokens", "completion_tokens", "total_tokens",
                            "unpriced_count", "failed_count")}
_TOTALS.update({n: NUM for n in ("cost_usd", "baseline_cost_usd", "savings_usd")})
_LIMIT_VALUE = {"type": "number", "minimum": 0, "maximum": 1e12}
_LIMIT_INT = {"type": "integer", "minimum": 0, "maximum": 1e12}
_WINDOW = obj({"used": NUM, "resets_at": ISO})
_USAGE = {
    "UsageTotals": obj(_TOTALS),
    "UsageResponse": obj({"success": TRUE, "user_id": STR, "totals": ref("UsageTotals"),
                          "group_by": nullable({"enum": ["provider", "model", "day"]}),
                          "groups": array({"allOf": [ref("UsageTotals"), obj({"key": STR})]})}),
    "Limits": obj({"requests_per_minute": nullable(_LIMIT_INT),
                   "tokens_per_minute": nullable(_LIMIT_INT),
                   "monthly_usd": nullable(_LIMIT_VALUE)}),
    "LimitsUpdate": {"type": "object", "minProperties": 1, "additionalProperties": False,
                     "properties": {"requests_per_minute": nullable(_LIMIT_INT),
                                    "tokens_per_minute": nullable(_LIMIT_INT),
                                    "monthly_usd": nullable(_LIMIT_VALUE)},
                     "description": "Any of " + ", ".join(limits.FIELDS) + "; null clears one"},
    "LimitsResponse": obj({"success": TRUE, "user_id": STR, "limits": ref("Limits"),
                           "usage": obj({"requests": _WINDOW, "tokens": _WINDOW, "spend": _WINDOW})}),
}

_TEXT_PART = obj({"type": {"enum": ["text", "input_text"]}, "text": STR}, ["type"])
_CONTENT = {"anyOf": [STR, {"type": "null"}, array(_TEXT_PART)]}
_TOOL_CALL = obj({"id": STR, "type": {"const": "function"},
                  "function": obj({"name": STR, "arguments": STR}, ["name"])}, ["function"])
_MESSAGE_BASE = {"content": _CONTENT, "name": STR, "tool_calls": nullable(array(_TOOL_CALL))}
_MESSAGE = {"anyOf": [
    obj({"role": {"enum": [r for r in openai_wire.ROLES if r != "tool"]}, **_MESSAGE_BASE}, ["role"]),
    obj({"role": {"const": "tool"}, "tool_call_id": STR, **_MESSAGE_BASE}, ["role", "tool_call_id"]),
]}
_TOOL = obj({"type": {"const": "function"}, "function": obj(
    {"name": STR, "description": nullable(STR), "parameters": nullable({"type": "object"})},
    ["name"])}, ["function"])
_MODELS = {"type": "array", "maxItems": openai_wire.MAX_MODELS - 1,
           "items": {"type": "string", "pattern": _model_pattern(PROVIDERS)},
           "description": "Fallback models tried after 'model' (OpenRouter style)"}
_USAGE_OBJ = obj({"prompt_tokens": INT, "completion_tokens": INT, "total_tokens": INT,
                  "prompt_tokens_details": obj({"cached_tokens": INT}),
                  "completion_tokens_details": obj({"reasoning_tokens": INT})},
                 ["prompt_tokens", "completion_tokens", "total_tokens"])
_V1 = {
    "ChatCompletionRequest": obj({
        "model": {"type": "string", "pattern": _model_pattern(PROVIDERS),
                  "description": "'<provider>/<model>' or 'auto' (routed by the gateway)"},
        "models": nullable(_MODELS), "messages": array(_MESSAGE, minItems=1),
        "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
        "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
        "max_tokens": nullable({"type": "integer", "minimum": 1, "maximum": 1_000_000}),
        "max_completion_tokens": nullable({"type": "integer", "minimum": 1, "maximum": 1_000_000}),
        "stop": {"anyOf": [STR, {"type": "null"}, array(STR)]},
        "stream": nullable(BOOL), "tools": nullable(array(_TOOL)),
        "tool_choice": {"anyOf": [{"enum": ["auto", "none", "required", None]},
                                  obj({"type": STR, "function": obj({"name": STR})}, ["function"])]},
        "response_format": nullable(obj({"type": {"enum": ["text", "json_object", "json_schema"]}})),
    }, ["model", "messages"], description="OpenAI's chat request; other OpenAI fields are ignored"),
    "ChatCompletion": obj({"id": STR, "object": {"const": "chat.completion"}, "created": INT,
                           "model": STR, "usage": _USAGE_OBJ, "choices": array(obj({
                               "index": INT, "logprobs": {"type": "null"},
                               "finish_reason": nullable(STR),
                               "message": obj({"role": {"const": "assistant"}, "content": nullable(STR),
                                               "tool_calls": array(_TOOL_CALL)},
                                              ["role", "content"])}))}),
    "EmbeddingRequest": obj({
        "model": {"type": "string", "pattern": _model_pattern(EMBEDDING_PROVIDERS)},
        "models": nullable({**_MODELS, "items": {"type": "string", "pattern":
                                                 _model_pattern(EMBEDDING_PROVIDERS)}}),
        "input": {"anyOf": [STR, array(STR, minItems=1, maxItems=2048)]},
        "encoding_format": nullable({"enum": ["float", "base64"]}),
        "dimensions": nullable({"type": "integer", "minimum": 1, "maximum": 2**31 - 1}),
    }, ["model", "input"]),
    "EmbeddingList": obj({"object": {"const": "list"}, "model": STR, "data": array(obj({
        "object": {"const": "embedding"}, "index": INT,
        "embedding": {"anyOf": [array(NUM), STR]}})),
        "usage": obj({"prompt_tokens": INT, "total_tokens": INT})}),
    "ModelList": obj({"object": {"const": "list"}, "data": array(obj({
        "id": STR, "object": {"const": "model"}, "created": INT, "owned_by": STR}))}),
}

_PROMPT = {"prompt": {"type": "string", "minLength": 1},
           "context_length": nullable({"type": "integer", "minimum": 0, "maximum": 2**31 - 1})}
_ROUTING = {
    "AnalyzeTaskRequest": obj(_PROMPT, ["prompt"]),
    "SelectProviderRequest": obj({**_PROMPT, "user_id": USER_ID,
                                  "task_types": nullable(array(STR))}, ["prompt", "user_id"]),
    "SelectProviderResponse": obj({"success": TRUE, "timestamp": ISO, "recommendations": array(ANY),
                                   "selected_provider": obj({
                                       "id": PROVIDER_ID, "name": STR, "configured": BOOL, "model": STR,
                                       "score": NUM, "cost_savings": nullable(NUM),
                                       "specialization": nullable(STR), "reliability": nullable(NUM)}),
                                   "routing_analysis": obj({
                                       "detected_tasks": array(STR), "selection_reasons": array(STR),
                                       "selection_reasoning": STR, "total_providers_available": INT,
                                       "alternative_providers": array({"type": "object"})})}),
    "AnalyzeTaskResponse": obj({"success": TRUE, "timestamp": ISO, "task_analysis": obj({
        "detected_tasks": array(STR), "primary_task": STR, "task_count": INT})}),
    "CostAnalysisResponse": obj({"success": TRUE, "timestamp": ISO, "cost_analysis": obj({
        "baseline": {"type": "object"}, "providers": array({"type": "object"}),
        "recommendations": array(ANY), "actual_usage": {"type": "object"}},
        ["providers", "actual_usage"])}),
    "RoutingStatusResponse": obj({"success": TRUE, "timestamp": ISO, "routing_status": obj({
        "configured_providers": array(obj({"id": PROVIDER_ID, "name": STR, "capabilities": array(STR),
                                           "cost_savings": nullable(NUM)})),
        "total_providers": INT, "max_providers_available": INT,
        "routing_capabilities": array(STR), "ready_for_intelligent_routing": BOOL})}),
    "Health": obj({"status": {"const": "ok"}}),
}

SCHEMAS: dict[str, dict[str, Any]] = {**_ERRORS, **_KEYS, **_USAGE, **_V1, **_ROUTING}

PARAMETERS: dict[str, dict[str, Any]] = {
    "user_id": {"name": "user_id", "in": "path", "required": True, "schema": USER_ID},
    "service_name": {"name": "service_name", "in": "path", "required": True, "schema": PROVIDER_ID,
                     "description": "A provider id from the catalogue"},
}
