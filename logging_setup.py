"""Logging with a last-line-of-defence filter that scrubs key-shaped strings from every record."""
from __future__ import annotations

import logging

from secret import scrub


class ScrubSecretsFilter(logging.Filter):
    """Rewrites each record's message with key-shaped substrings redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be logged
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_filter(handler: logging.Handler) -> None:
    """Attach the scrub filter to a handler once."""
    if not any(isinstance(f, ScrubSecretsFilter) for f in handler.filters):
        handler.addFilter(ScrubSecretsFilter())


def configure(level: str = "INFO") -> None:
    """Configure root logging once, with the scrub filter on every root handler."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)   # a line per plugin, every start
    for handler in root.handlers:
        install_filter(handler)
