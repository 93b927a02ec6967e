"""Logging for operators, with the bot token kept out of every line.

The token is part of every Bot API URL, so any library that logs a URL (httpx logs each request at
INFO) would leak it. We silence httpx/httpcore below WARNING and, as a second belt, redact the token
from every record that reaches our handler, whatever logger it came from.
"""

from __future__ import annotations

import logging
import re
import sys

_TOKEN_SHAPE = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{20,}\b")
_QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler", "trafilatura", "htmldate", "courlan")


class RedactTokenFilter(logging.Filter):
    """Replace the token (and anything shaped like a bot token) with a placeholder."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self._token = token or None

    def redact(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "<token>")
        return _TOKEN_SHAPE.sub("<token>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


def setup_logging(level: str = "INFO", token: str | None = None) -> None:
    """Send logs to stderr with the token redacted; quiet the chatty HTTP libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokenFilter(token))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
