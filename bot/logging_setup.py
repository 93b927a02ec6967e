"""Logging for operators, with the bot token kept out of every line.

The token is part of every Bot API URL, so any library that logs a URL (httpx logs each request at
INFO) would leak it. We silence httpx/httpcore below WARNING and, as a second belt, redact the token
from every record that reaches our handler, whatever logger it came from. Python prints an uncaught
exception's traceback itself, past logging (PTB's InvalidToken carries the token in its message),
so the same redaction also guards ``sys.excepthook`` and ``threading.excepthook``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from types import TracebackType

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
    redactor = RedactTokenFilter(token)
    handler.addFilter(redactor)
    _redact_uncaught(redactor)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _redact_uncaught(redactor: RedactTokenFilter) -> None:
    """Print uncaught exceptions (main thread and others) as Python would, token redacted."""

    def print_redacted(
        kind: type[BaseException], error: BaseException | None, tb: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(kind, error, tb))
        sys.stderr.write(redactor.redact(text))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        sys.stderr.write(f"Exception in thread {name}:\n")
        print_redacted(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = print_redacted
    threading.excepthook = thread_hook
