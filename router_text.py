"""Prompt text for the router: joined message text, and the window scanned for keywords."""
from __future__ import annotations


def text_of(messages: list[dict] | list[str]) -> tuple[str, int]:
    """Join the text parts of messages; return (text, message count)."""
    parts: list[str] = []
    for msg in messages:
        content = msg if isinstance(msg, str) else msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts), len(messages)


# Keyword markers are looked for in the head and tail of long prompts only: a 1 MB document costs
# one pass per marker otherwise (~38 ms), while the instructions that say "code" or "analyse" sit
# at the start or the end. Token and CJK counts still cover the whole text.
_SCAN_CHARS = 32_768


def scan_window(text: str) -> str:
    """The text itself, or its first and last _SCAN_CHARS characters when it is longer."""
    if len(text) <= 2 * _SCAN_CHARS:
        return text
    return text[:_SCAN_CHARS] + "\n" + text[-_SCAN_CHARS:]
