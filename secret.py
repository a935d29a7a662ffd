"""Secret values that cannot leak by accident: an opaque wrapper, a scrubber and the masking rule."""
from __future__ import annotations

import hmac
import re
from typing import Iterable

_KNOWN_PREFIXES = ("sk-ant-api03-", "sk-ant-", "sk-proj-", "sk-svcacct-", "sk-", "AIza")

# Shapes of provider keys and gateway tokens, used as a last line of defence in logs and error
# text. Order matters only for readability; every pattern is replaced.
_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),                    # OpenAI, DeepSeek, Kimi, Anthropic
    re.compile(r"AIza[0-9A-Za-z_\-]{16,}"),                  # Google
    re.compile(r"\b[0-9a-f]{32}\.[A-Za-z0-9]{8,}\b"),        # Zhipu <id>.<secret>
    re.compile(r"byok_[A-Za-z0-9_\-]{16,}"),                 # gateway tokens
    re.compile(r"gAAAAA[A-Za-z0-9_\-=]{20,}"),               # Fernet tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{12,}"),      # any bearer credential
    re.compile(r"(?i)((?:api[-_]?key|x-goog-api-key|key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{12,}"),
    re.compile(r"\b[0-9a-f]{32,}\b"),                        # Azure hex keys, raw hex secrets
]
REDACTED = "[REDACTED]"


class Secret:
    """A string whose repr/str never shows the value; call reveal() at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """Return the raw value (only where an upstream request is built)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __reduce__(self):  # pragma: no cover - exercised by a test via pickle
        raise TypeError("Secret values cannot be pickled")


def scrub(text: object, secrets: Iterable[str | Secret] = ()) -> str:
    """Return text with every known secret and every key-shaped substring replaced."""
    out = str(text)
    for item in secrets:
        raw = item.reveal() if isinstance(item, Secret) else item
        if raw and len(raw) >= 4:
            out = out.replace(raw, REDACTED)
    for pattern in _KEY_PATTERNS:
        if pattern.groups:
            out = pattern.sub(lambda m: m.group(1) + REDACTED, out)
        else:
            out = pattern.sub(REDACTED, out)
    return out


def mask_key(key: str | Secret | None) -> str:
    """Mask a key: a known non-secret prefix plus at most the last 4 characters."""
    raw = key.reveal() if isinstance(key, Secret) else (key or "")
    if len(raw) < 16:
        return "***"
    prefix = next((p for p in _KNOWN_PREFIXES if raw.startswith(p)), "")
    if len(raw) - len(prefix) < 16:
        prefix = ""
    return f"{prefix}...{raw[-4:]}"


def last4(key: str) -> str:
    """The last 4 characters stored for display, or '' for keys too short to show any."""
    return key[-4:] if len(key) >= 16 else ""
