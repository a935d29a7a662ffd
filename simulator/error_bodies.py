"""Each provider's real error bodies, per error kind (../shared/docs/providers.md §3-§9).

``TABLE[kind][provider] = (status, body template)``; templates use ``{model}``, ``{masked}``,
``{last4}``, ``{version}``, ``{retry}``, ``{path}``, ``{detail}`` and ``{request_id}``.
"""
from __future__ import annotations

_OPENAI_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank"
    " username) if you're accessing the API from your browser and are prompted for a username and"
    " password. You can obtain an API key from https://platform.openai.com/account/api-keys.")
_QUOTA = ("You exceeded your current quota, please check your plan and billing details. For more "
          "information on this error, read the docs: "
          "https://platform.openai.com/docs/guides/error-codes/api-errors.")
_OAI_CONTEXT = ("This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 130021 tokens. Please reduce the length of the messages.")
_AZURE_BAD_KEY = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                  "to provide a valid key for an active subscription and use a correct regional "
                  "API endpoint for your resource.")
_GEMINI_BAD_KEY = "API key not valid. Please pass a valid API key."
_GLM_FILTER = ("系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，"
               "感谢您的配合。")


def _oai(message: str, type_: str | None, code: str | None, param: str | None = None) -> dict:
    """OpenAI / DeepSeek error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _az(code: str, message: str) -> dict:
    """Azure error shape."""
    return {"error": {"code": code, "message": message}}


def _an(type_: str, message: str, **extra) -> dict:
    """Anthropic error shape (request_id filled in per reply)."""
    return {"type": "error", "error": {"type": type_, "message": message, **extra},
            "request_id": "{request_id}"}


def _ge(code: int, status: str, message: str, details: list | None = None) -> dict:
    """Gemini (google.rpc.Status) error shape."""
    body = {"code": code, "message": message, "status": status}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _gl(code: str, message: str) -> dict:
    """Zhipu GLM error shape (code is a string of digits)."""
    return {"error": {"code": code, "message": message}}


def _ki(type_: str, message: str) -> dict:
    """Moonshot Kimi error shape (no code)."""
    return {"error": {"message": message, "type": type_}}


_GEMINI_KEY_DETAILS = [
    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
     "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
    {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
     "message": _GEMINI_BAD_KEY},
]
_GEMINI_QUOTA_DETAILS = [
    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "quotaDimensions": {"location": "global", "model": "{model}"}, "quotaValue": "10"}]},
    {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
        "description": "Learn more about Gemini API quotas",
        "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
]
_KIMI_LIMIT = ("Your account org-sim<ak-sim> request reached organization max concurrency: 10, "
               "please try again after {retry} seconds")

TABLE = {
    "invalid_key": {
        "openai": (401, _oai("Incorrect API key provided: {masked}. You can find your API key at "
                             "https://platform.openai.com/account/api-keys.",
                             "invalid_request_error", "invalid_api_key")),
        "azure": (401, _az("401", _AZURE_BAD_KEY)),
        "anthropic": (401, _an("authentication_error", "invalid x-api-key")),
        "gemini": (400, _ge(400, "INVALID_ARGUMENT", _GEMINI_BAD_KEY, _GEMINI_KEY_DETAILS)),
        "deepseek": (401, _oai("Authentication Fails, Your api key: ****{last4} is invalid",
                               "authentication_error", "invalid_request_error")),
        "glm": (401, _gl("1000", "身份验证失败。")),
        "kimi": (401, _ki("invalid_authentication_error", "Invalid Authentication")),
    },
    "missing_key": {
        "openai": (401, _oai(_OPENAI_NO_KEY, "invalid_request_error", None)),
        "azure": (401, _az("401", "Access denied due to missing subscription key. Make sure to "
                                  "include subscription key when making requests to an API.")),
        "anthropic": (401, _an("authentication_error", "x-api-key header is required")),
        "gemini": (403, _ge(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers "
                            "(callers without established identity). Please use API Key or other"
                            " form of API consumer identity to call this API.")),
        "deepseek": (401, _oai("Authentication Fails, Your api key: **** is invalid",
                               "authentication_error", "invalid_request_error")),
        "glm": (401, _gl("1001", "Header中未收到Authorization参数，无法进行身份验证。")),
        "kimi": (401, _ki("invalid_authentication_error", "Invalid Authentication")),
    },
    "rate_limit": {
        "openai": (429, _oai("Rate limit reached for {model} in organization org-simulator on "
                             "tokens per min (TPM): Limit 30000, Used 29000, Requested 1500. Please"
                             " try again in {retry}s. Visit https://platform.openai.com/account/"
                             "rate-limits to learn more.", "tokens", "rate_limit_exceeded")),
        "azure": (429, _az("429", "Requests to the ChatCompletions_Create Operation under Azure "
                           "OpenAI API version 2024-10-21 have exceeded token rate limit of your "
                           "current OpenAI S0 pricing tier. Please retry after {retry} seconds. "
                           "Please go here: https://aka.ms/oai/quotaincrease if you would like to"
                           " further increase the default rate limit.")),
        "anthropic": (429, _an("rate_limit_error", "This request would exceed the rate limit for "
                               "your organization (org-simulator) of 50 requests per minute. For "
                               "details, refer to: https://docs.claude.com/en/api/rate-limits.")),
        "gemini": (429, _ge(429, "RESOURCE_EXHAUSTED",
                            "Resource has been exhausted (e.g. check quota).")),
        # DeepSeek documents only the message for 429 [?]; type/code follow its other errors.
        "deepseek": (429, _oai("Rate Limit Reached", "rate_limit_error", "invalid_request_error")),
        "glm": (429, _gl("1302", "您的账户已达到速率限制，请您控制请求频率")),
        "kimi": (429, _ki("rate_limit_reached_error", _KIMI_LIMIT)),
    },
    "quota": {
        "openai": (429, _oai(_QUOTA, "insufficient_quota", "insufficient_quota")),
        # Azure has no insufficient_quota; an exhausted call-volume quota is a 403 [?].
        "azure": (403, _az("403", "Out of call volume quota for OpenAI S0 pricing tier. Quota will"
                                  " be replenished in 2.12:34:56.")),
        "anthropic": (429, _an("rate_limit_error", "You have reached your specified API usage "
                               "limits. You will regain access on 2026-12-01 at 00:00 UTC.",
                               details={"error_code": "enforced_spend_limit_reached"})),
        "gemini": (429, _ge(429, "RESOURCE_EXHAUSTED", _QUOTA.replace(
            "https://platform.openai.com/docs/guides/error-codes/api-errors",
            "https://ai.google.dev/gemini-api/docs/rate-limits"), _GEMINI_QUOTA_DETAILS)),
        "deepseek": (402, _oai("Insufficient Balance", "unknown_error", "invalid_request_error")),
        "glm": (429, _gl("1113", "余额不足或无可用资源包,请充值。")),
        "kimi": (429, _ki("exceeded_current_quota_error", "Your account org-sim<ak-sim> is "
                          "suspended due to insufficient balance, please recharge your account or"
                          " check your plan and billing details")),
    },
    "overloaded": {
        "openai": (503, _oai("The engine is currently overloaded, please try again later",
                             "server_error", None)),
        "azure": (503, _az("ServiceUnavailable", "The service is temporarily unable to process "
                                                 "your request. Please try again later.")),
        "anthropic": (529, _an("overloaded_error", "Overloaded")),
        "gemini": (503, _ge(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")),
        "deepseek": (503, _oai("Server Overloaded", "server_error", "invalid_request_error")),
        "glm": (429, _gl("1305", "该模型当前访问量过大，请您稍后再试")),
        "kimi": (429, _ki("engine_overloaded_error",
                          "The engine is currently overloaded, please try again later")),
    },
    "server_error": {
        "openai": (500, _oai("The server had an error while processing your request. Sorry about"
                             " that!", "server_error", None)),
        "azure": (500, _az("InternalServerError", "The server had an error while processing your "
                                                  "request. Sorry about that!")),
        "anthropic": (500, _an("api_error", "Internal server error")),
        "gemini": (500, _ge(500, "INTERNAL", "An internal error has occurred. Please retry or "
                            "report in https://developers.generativeai.google/guide/troubleshooting")),
        "deepseek": (500, _oai("Server Error", "server_error", "invalid_request_error")),
        "glm": (500, _gl("500", "Internal Error")),
        "kimi": (500, _ki("server_error", "unexpected_output")),
    },
    "context_length": {
        "openai": (400, _oai(_OAI_CONTEXT, "invalid_request_error", "context_length_exceeded",
                             "messages")),
        "azure": (400, _oai(_OAI_CONTEXT, "invalid_request_error", "context_length_exceeded",
                            "messages")),
        "anthropic": (400, _an("invalid_request_error",
                               "prompt is too long: 208310 tokens > 200000 maximum")),
        "gemini": (400, _ge(400, "INVALID_ARGUMENT", "The input token count (1196265) exceeds the"
                            " maximum number of tokens allowed (1048576).")),
        "deepseek": (400, _oai("This model's maximum context length is 131072 tokens. However, you"
                               " requested 140000 tokens (131000 in the messages, 9000 in the "
                               "completion). Please reduce the length of the messages or "
                               "completion.", "invalid_request_error", "invalid_request_error")),
        "glm": (400, _gl("1261", "Prompt exceeds max length")),
        "kimi": (400, _ki("invalid_request_error", "Invalid request: Your request exceeded model "
                          "token limit: 262144 (requested: 269030)")),
    },
    "content_filter": {
        "openai": (400, _oai("Invalid prompt: your prompt was flagged as potentially violating our"
                             " usage policy. Please try again with a different prompt.",
                             "invalid_request_error", "invalid_prompt")),
        "azure": (400, {"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                       "content management policy. Please modify your prompt and retry.",
            "type": None, "param": "prompt", "code": "content_filter", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": False, "detected": False},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "medium"}}}}}),
        "deepseek": (400, _oai("Content Exists Risk", "invalid_request_error",
                               "invalid_request_error")),
        "glm": (400, _gl("1301", _GLM_FILTER)),
        "kimi": (400, _ki("content_filter",
                          "The request was rejected because it was considered high risk")),
    },
    "model_not_found": {
        "openai": (404, _oai("The model `{model}` does not exist or you do not have access to it.",
                             "invalid_request_error", "model_not_found")),
        "azure": (404, _az("DeploymentNotFound", "The API deployment for this resource does not "
                           "exist. If you created the deployment within the last 5 minutes, "
                           "please wait a moment and try again.")),
        "anthropic": (404, _an("not_found_error", "model: {model}")),
        "gemini": (404, _ge(404, "NOT_FOUND", "models/{model} is not found for API version "
                            "{version}, or is not supported for generateContent. Call ListModels "
                            "to see the list of available models and their supported methods.")),
        "deepseek": (400, _oai("Model Not Exist", "invalid_request_error", "invalid_request_error")),
        "glm": (400, _gl("1211", "模型不存在，请检查模型代码。")),
        "kimi": (404, _ki("resource_not_found_error",
                          "Not found the model {model} or Permission denied")),
    },
    "not_found": {
        "openai": (404, _oai("Invalid URL ({path})", "invalid_request_error", None)),
        "azure": (404, _az("404", "Resource not found")),
        "anthropic": (404, _an("not_found_error", "Not Found")),
        "gemini": (404, _ge(404, "NOT_FOUND", "Method not found.")),
        "deepseek": (404, _oai("Not Found", "invalid_request_error", "invalid_request_error")),
        "glm": (404, _gl("404", "Not Found")),
        "kimi": (404, _ki("resource_not_found_error", "Not found the API {path}")),
    },
    "bad_request": {
        "openai": (400, _oai("{detail}", "invalid_request_error", None)),
        "azure": (400, _oai("{detail}", "invalid_request_error", None)),
        "anthropic": (400, _an("invalid_request_error", "{detail}")),
        "gemini": (400, _ge(400, "INVALID_ARGUMENT", "{detail}")),
        "deepseek": (400, _oai("{detail}", "invalid_request_error", "invalid_request_error")),
        "glm": (400, _gl("1214", "{detail}")),
        "kimi": (400, _ki("invalid_request_error", "Invalid request: {detail}")),
    },
}

ANTHROPIC_BILLING = (402, _an("billing_error", "Your credit balance is too low to access the "
                              "Anthropic API. Please go to Plans & Billing to upgrade or purchase "
                              "credits."))
