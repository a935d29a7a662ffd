"""ATOM's original routing API (/api/v1/intelligent), backed by the real router and ledger."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, jsonify, request

import catalogue
import openai_wire
import router
from errors import BadRequestError
from user_api_key_routes import _guard, _json_body

bp = Blueprint("intelligent_routing", __name__, url_prefix="/api/v1/intelligent")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _configured(user_id: str) -> list[str]:
    gateway = current_app.extensions["byok"].extra["gateway"]
    return sorted(gateway.usable_keys(user_id))


def _prompt_args(body: Any) -> tuple[str, int]:
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str) or not body["prompt"]:
        raise BadRequestError("'prompt' is required and must be a non-empty string", code="invalid_request")
    length = openai_wire.number(body, "context_length", int, 0, 2**31 - 1)  # null: 0
    return body["prompt"], length or 0


@bp.post("/select-provider")
def select_provider():
    """Choose a provider and model for a prompt among the user's usable keys."""
    body = _json_body()
    prompt, length = _prompt_args(body)
    user_id = body.get("user_id")
    if not isinstance(user_id, str):
        raise BadRequestError("'user_id' is required", code="invalid_request")
    _guard(user_id)
    tasks = body.get("task_types")
    if tasks is not None and (not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks)):
        raise BadRequestError("'task_types' must be a list of strings", code="invalid_request")
    configured = _configured(user_id)
    result = router.select_provider(prompt, configured, length, tasks)
    if not result["success"]:
        raise BadRequestError(f"{result['error']}. {result['suggestion']}", code="no_usable_provider")
    return jsonify(success=True, selected_provider=_selected(result), timestamp=_now(),
                   routing_analysis=_analysis(result, configured),
                   recommendations=router.cost_report(configured)["recommendations"])


def _selected(result: dict[str, Any]) -> dict[str, Any]:
    provider = result["provider"]
    return {"id": result["provider_id"], "name": provider["name"], "configured": True,
            "model": result["model"], "score": result["score"],
            "cost_savings": provider["cost_savings"], "specialization": provider["specialization"],
            "reliability": provider["reliability"]}


def _analysis(result: dict[str, Any], configured: list[str]) -> dict[str, Any]:
    return {"detected_tasks": result["detected_tasks"], "selection_reasons": result["reasons"],
            "selection_reasoning": result["selection_reasoning"],
            "total_providers_available": len(configured),
            "alternative_providers": result.get("alternatives", [])}


@bp.post("/analyze-task")
def analyze_task():
    """Detect the task types of a prompt."""
    prompt, length = _prompt_args(_json_body())
    tasks = router.detect_task_types(prompt, length)
    return jsonify(success=True, timestamp=_now(), task_analysis={
        "detected_tasks": tasks, "primary_task": tasks[0], "task_count": len(tasks)})


@bp.get("/cost-analysis/<user_id>")
def cost_analysis(user_id: str):
    """Real list prices of the user's providers against the baseline, plus their real usage."""
    _guard(user_id)
    configured = _configured(user_id)
    if not configured:
        raise BadRequestError("No AI providers configured: save a key first", code="no_usable_provider")
    report = router.cost_report(configured)
    ledger = current_app.extensions["byok"].extra["ledger"]
    report["actual_usage"] = ledger.summary(user_id, start=None, end=None, group_by="provider")
    return jsonify(success=True, cost_analysis=report, timestamp=_now())


@bp.get("/routing-status/<user_id>")
def routing_status(user_id: str):
    """Which providers the router can use for this user."""
    _guard(user_id)
    configured = _configured(user_id)
    savings = {row["provider_id"]: row["cost_savings"]
               for row in router.cost_report(configured)["providers"]}
    providers = [{"id": pid, "name": catalogue.provider_info(pid)["name"],
                  "capabilities": catalogue.provider_info(pid)["capabilities"],
                  "cost_savings": savings.get(pid)} for pid in configured]
    return jsonify(success=True, timestamp=_now(), routing_status={
        "configured_providers": providers, "total_providers": len(providers),
        "max_providers_available": len(catalogue.provider_ids()),
        "routing_capabilities": router.routing_capabilities(),
        "ready_for_intelligent_routing": len(providers) > 0})
