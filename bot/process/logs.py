"""Logging set-up: readable lines or JSON, with secrets redacted from everything written."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable

QUIET_LOGGERS = ("httpx", "httpcore", "apscheduler", "hpack", "aiohttp.access", "aiosqlite")


class RedactingFormatter(logging.Formatter):
    """Formats a record, then blanks out every secret (tracebacks included)."""

    def __init__(self, secrets: Iterable[str], *, as_json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.secrets = [s for s in secrets if s]
        self.as_json = as_json

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def format(self, record: logging.LogRecord) -> str:
        """One line (or one JSON object) per record, secrets removed."""
        if not self.as_json:
            return self._redact(super().format(record))
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry, ensure_ascii=False))


def configure_logging(level: str, *, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Log to stderr at `level`; chatty HTTP loggers stay quiet (their URLs hold the token)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, as_json=fmt == "json"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def redact(secret: str) -> None:
    """Blank `secret` out of every log line from now on (one made up at run time)."""
    if not secret:
        return
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        if isinstance(formatter, RedactingFormatter) and secret not in formatter.secrets:
            formatter.secrets.append(secret)


class ConsoleFormatter(RedactingFormatter):
    """One marked line per record, as '[warning] ...': no timestamps, no tracebacks."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """'[level] message', with the exception's type and text when there is one."""
        text = f"[{record.levelname.lower()}] {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {exc})"
        return self._redact(text)


class ConsoleLogHandler(logging.Handler):
    """Hands each formatted record to `write`: stderr, until the console takes it over to
    keep a line being typed intact."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.setFormatter(ConsoleFormatter(secrets))
        self.write: Callable[[str], None] = _to_stderr

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted record."""
        try:
            self.write(self.format(record))
        except Exception:  # logging must never raise; handleError reports it
            self.handleError(record)


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def configure_console_logging(level: str = "WARNING", *, secrets: Iterable[str] = ()) -> None:
    """Log to stderr for the console: WARNING and above only, so the chat stays readable."""
    root = logging.getLogger()
    root.handlers[:] = [ConsoleLogHandler(secrets)]
    root.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
