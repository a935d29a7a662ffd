"""ATOM's Kimi K2 handler (Moonshot AI), rebuilt on the Kimi adapter (contract §4).

Attributes as in the original: `api_key` ("" by default; the vault or the caller sets it, never
the environment), `base_url`, `default_model`, `timeout` (the read timeout, seconds). There is no
embeddings method (Moonshot has no embeddings API). The stream chunk shape and error dicts are
described in `legacy_handler`.

`analyze_document` estimates the prompt's tokens (the router's rule: about 4 characters a token,
1 token per CJK character), picks the smallest model whose window holds the prompt plus 2000
output tokens with 10% spare, and when even the largest window is too small (or an explicitly
chosen model's window is), splits the document on paragraph, then sentence boundaries, analyses
each part and merges the partial analyses with one final call.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Mapping, Optional

import catalogue
from legacy_handler import ChunkStream, HandlerText, LegacyHandler

LONG_CONTEXT_MODEL = "moonshot-v1-128k"
REASONING_MODEL = "moonshot-v1-32k"
ANALYSIS_MODELS = ("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "kimi-k2-0905-preview")  # small first
ANALYSIS_MAX_TOKENS = 2000
REASONING_MAX_TOKENS = 3000
WINDOW_SHARE = 0.9          # the estimate is rough: leave 10% of every window unused
FRAMING_TOKENS = 64         # message overhead plus the part/merge instructions
MIN_PART_TOKENS = 256       # below this a question leaves no room for the document
DEFAULT_QUESTION = "Please analyse this document and summarise its key points and insights."
ANALYST_PROMPT = ("You are an expert document analyst. Read the text carefully and give a thorough, "
                  "well-organised analysis that stays faithful to it.")
REASONING_PROMPT = ("You are a careful problem solver. Work through the problem step by step, state your "
                    "assumptions and explain each step of the logic before giving the answer.")
_CJK_RUN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")  # router's ranges
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"[.!?]+\s+|[。！？]+")


def estimate_tokens(text: str) -> int:
    """About 4 characters a token, 1 token per CJK character (the router's estimate, no overhead)."""
    cjk = 0 if text.isascii() else len(text) - len(_CJK_RUN.sub("", text))
    return (len(text) - cjk + 3) // 4 + cjk


def prompt_budget(model: str) -> int | None:
    """Prompt tokens a model can take next to a full analysis answer; None if the window is unknown."""
    info = catalogue.model_info("kimi_k2", model)
    return None if info is None else int(info.context_window * WINDOW_SHARE) - ANALYSIS_MAX_TOKENS


def smallest_fitting_model(tokens: int) -> str | None:
    """The smallest analysis model whose budget holds this many prompt tokens, or None."""
    return next((m for m in ANALYSIS_MODELS if (prompt_budget(m) or 0) >= tokens), None)


def split_text(text: str, budget: int) -> list[str]:
    """Consecutive parts of at most `budget` estimated tokens, cut at the largest boundary that works."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for unit in _units(text, budget):
        cost = estimate_tokens(unit)
        if current and used + cost > budget:
            parts.append("".join(current))
            current, used = [], 0
        current.append(unit)
        used += cost
    if current:
        parts.append("".join(current))
    return parts


def _units(text: str, budget: int) -> Iterator[str]:
    """Paragraphs; sentences of paragraphs that are too long; fixed slices of sentences still too long."""
    for paragraph in _pieces(text, _PARAGRAPH_END):
        if estimate_tokens(paragraph) <= budget:
            yield paragraph
            continue
        for sentence in _pieces(paragraph, _SENTENCE_END):
            if estimate_tokens(sentence) <= budget:
                yield sentence
            else:
                step = budget * 4 if sentence.isascii() else budget   # never more than `budget` tokens
                yield from (sentence[i:i + step] for i in range(0, len(sentence), step))


def _pieces(text: str, boundary: re.Pattern[str]) -> Iterator[str]:
    """Text cut after every boundary match (the separator stays with the piece before it)."""
    start = 0
    for match in boundary.finditer(text):
        yield text[start:match.end()]
        start = match.end()
    if start < len(text):
        yield text[start:]


def add_usage(total: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    """Two usage dicts summed key by key."""
    return {k: total.get(k, 0) + more.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _analyst(user_text: str) -> list[dict[str, str]]:
    """The analyst system prompt followed by one user message."""
    return [{"role": "system", "content": ANALYST_PROMPT}, {"role": "user", "content": user_text}]


class KimiK2ServiceReal(LegacyHandler):
    """Kimi through Moonshot's OpenAI-format API: key test, chat, long context, documents, reasoning."""

    provider_id = "kimi_k2"
    text = HandlerText(name="Kimi K2", vendor="Moonshot AI", family="Kimi K2")
    DEFAULT_MODEL = "moonshot-v1-8k"
    # The original's static table; costs are USD per 1K tokens and only estimates.
    MODEL_TABLE = {
        "moonshot-v1-8k": {"name": "Kimi K2 - 8K", "description": "Standard model with an 8K window",
                           "context_length": 8000, "input_cost": 0.012, "output_cost": 0.036,
                           "capabilities": ("chat", "reasoning")},
        "moonshot-v1-32k": {"name": "Kimi K2 - 32K", "description": "Extended model with a 32K window",
                            "context_length": 32000, "input_cost": 0.024, "output_cost": 0.072,
                            "capabilities": ("chat", "reasoning", "long_context")},
        "moonshot-v1-128k": {"name": "Kimi K2 - 128K", "description": "Long-context model with a 128K window",
                             "context_length": 128000, "input_cost": 0.096, "output_cost": 0.288,
                             "capabilities": ("chat", "reasoning", "long_context", "document_analysis")},
    }

    def long_context_chat(self, messages: List[Dict[str, Any]], model: Optional[str] = None,
                          max_tokens: Optional[int] = None, temperature: float = 0.3,
                          **kwargs: Any) -> dict[str, Any] | ChunkStream:
        """chat_completion with the 128K model by default and a lower temperature."""
        return self.chat_completion(messages, model=model or LONG_CONTEXT_MODEL, max_tokens=max_tokens,
                                    temperature=temperature, **kwargs)

    def reasoning_chat(self, problem: str, context: Optional[str] = None,
                       model: Optional[str] = None) -> dict[str, Any]:
        """Step-by-step reasoning (32K model, temperature 0.2); context is a second system message."""
        messages = [{"role": "system", "content": REASONING_PROMPT}, {"role": "user", "content": f"Problem: {problem}"}]
        if context:
            messages.insert(1, {"role": "system", "content": f"Context: {context}"})
        result = self.chat_completion(messages, model=model or REASONING_MODEL, max_tokens=REASONING_MAX_TOKENS,
                                      temperature=0.2)
        if result.get("success"):
            result["reasoning_type"] = "complex_problem_solving"
        return result

    def analyze_document(self, document_text: str, question: str = DEFAULT_QUESTION,
                         model: Optional[str] = None) -> dict[str, Any]:
        """Analyse a document with the smallest model that fits it, in parts when none does."""
        if not self.api_key:
            return self._no_key()
        fixed = estimate_tokens(ANALYST_PROMPT + question) + FRAMING_TOKENS
        tokens = estimate_tokens(document_text) + fixed
        chosen = model or smallest_fitting_model(tokens)
        budget = prompt_budget(chosen) if chosen else None
        if chosen and (budget is None or tokens <= budget):   # an unknown explicit model is sent as is
            result = self._analyse(_analyst(f"Document:\n\n{document_text}\n\n{question}"), chosen)
            result.update(chunks=1, chunked=False)
        else:
            result = self._analyse_in_parts(document_text, question, model)
        if result.get("success"):
            result.update(analysis_type="document_analysis", document_length=len(document_text),
                          context_used=len(document_text) + len(question), estimated_tokens=tokens)
        return result

    def _analyse(self, messages: list[dict[str, str]], model: str) -> dict[str, Any]:
        """One analysis call (2000 output tokens, temperature 0.3)."""
        return self.chat_completion(messages, model=model, max_tokens=ANALYSIS_MAX_TOKENS, temperature=0.3)

    def _analyse_in_parts(self, document: str, question: str, model: str | None) -> dict[str, Any]:
        """Analyse each part that fits, then merge; usage is the sum over every call."""
        fixed = estimate_tokens(ANALYST_PROMPT + question) + FRAMING_TOKENS
        budget = (prompt_budget(model or ANALYSIS_MODELS[-1]) or 0) - fixed
        if budget < MIN_PART_TOKENS:
            return {"success": False, "error": f"Document analysis error: the question leaves no room for the "
                                               f"document in {model or ANALYSIS_MODELS[-1]}'s context window"}
        parts = split_text(document, budget)
        partials: list[str] = []
        usage: dict[str, int] = {}
        for index, part in enumerate(parts, 1):
            prompt = (f"This is part {index} of {len(parts)} of a long document. Analyse this part only; the "
                      f"partial analyses are merged afterwards.\n\nDocument part {index}/{len(parts)}:\n\n"
                      f"{part}\n\n{question}")
            result = self._analyse(_analyst(prompt), model or smallest_fitting_model(estimate_tokens(part) + fixed))
            if not result.get("success"):
                return {**result, "chunks": len(parts), "failed_chunk": index}
            partials.append(result.get("content") or "")
            usage = add_usage(usage, result.get("usage") or {})
        final = self._merge(partials, question, model)
        if final.get("success"):
            final["usage"] = add_usage(usage, final.get("usage") or {})
        return {**final, "chunks": len(parts), "chunked": True}

    def _merge(self, partials: list[str], question: str, model: str | None) -> dict[str, Any]:
        """One call that merges the partial analyses (merged in parts again if they do not fit)."""
        joined = "\n\n".join(f"[Part {i} of {len(partials)}]\n{text}" for i, text in enumerate(partials, 1))
        tokens = estimate_tokens(ANALYST_PROMPT + joined + question) + FRAMING_TOKENS
        target = model or smallest_fitting_model(tokens)
        budget = prompt_budget(target) if target else None
        if not target or (budget is not None and tokens > budget):
            return self._analyse_in_parts(joined, question, model)
        prompt = (f"A long document was analysed in {len(partials)} parts. The partial analyses follow.\n\n"
                  f"{joined}\n\nCombine them into one coherent analysis that answers: {question}")
        return self._analyse(_analyst(prompt), target)


kimi_k2_service_real = KimiK2ServiceReal()   # cheap: no key, no network, no files


def get_kimi_k2_service_real() -> KimiK2ServiceReal:
    """The module-level handler instance (the original's accessor)."""
    return kimi_k2_service_real
