"""Log lines an operator can read: one per inbound event, turn, delivery and decision.

``INTAKE_LOG_FORMAT=json`` writes one JSON object per line (for a log shipper), the
default is ``time level logger message key=value ...``. Fields are passed as
``extra={"fields": {...}}`` (see ``event``) and never include message bodies, tokens or
card contents: callers pass references, channels, ids and outcomes only.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS = "intake_fields"
_BOUND: ContextVar[dict[str, Any] | None] = ContextVar("intake_log_fields", default=None)


def event(logger: logging.Logger, message: str, level: int = logging.INFO,
          **fields: Any) -> None:
    """One line: a short message and its fields (reference, channel, outcome, ...)."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={FIELDS: {**(_BOUND.get() or {}), **fields}})


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Fields added to every ``event`` line inside (the worker binds the event being
    processed, so a card check's line says which event, and which channel, it was for)."""
    token = _BOUND.set({**(_BOUND.get() or {}), **fields})
    try:
        yield
    finally:
        _BOUND.reset(token)


class TextFormatter(logging.Formatter):
    """``2026-12-01T09:00:00Z INFO core.worker event processed channel=mail ...``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = getattr(record, FIELDS, None) or {}
        tail = "".join(f" {key}={_text(value)}" for key, value in fields.items()
                       if value is not None)
        line = f"{moment} {record.levelname} {record.name} {record.getMessage()}{tail}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the same fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage()}
        data.update({k: v for k, v in (getattr(record, FIELDS, None) or {}).items()
                     if v is not None})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c.isspace() for c in text)
                                or '"' in text) else text


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Set up the root logger once per process (``intake`` calls it first)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiosqlite", "sqlalchemy.engine", "mail.log", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
