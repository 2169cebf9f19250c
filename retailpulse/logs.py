"""Structured log lines: ``job=3 store=S01408764 event=image_failed reason="..."``.

One ``key=value`` line per event is readable by a person and parseable by grep,
awk or a log shipper; ``--log-format json`` writes the same fields as one JSON
object per line for tools that prefer that. Fields travel on the log record
(``record.event``, ``record.fields``), so the JSON form never re-parses text.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOG_FORMATS", "JsonFormatter", "configure_logging", "format_fields", "log_event"]

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEADING_KEYS = ("job", "store")
"""Shown before ``event`` so that lines of one job or one store line up."""


def _value(value: object) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    if text and all(c.isprintable() and c not in ' "=' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, with quotes and newlines escaped


def format_fields(event: str, fields: dict[str, Any]) -> str:
    """``job=3 store=S1 event=image_failed url=... reason="the server answered 404"``."""
    leading = [(k, fields[k]) for k in LEADING_KEYS if k in fields]
    rest = [(k, v) for k, v in fields.items() if k not in LEADING_KEYS]
    pairs = [*leading, ("event", event), *rest]
    return " ".join(f"{key}={_value(value)}" for key, value in pairs)


def log_event(logger: logging.Logger, level: int, event: str, /, **fields: Any) -> None:
    """Log one event as a ``key=value`` line, keeping the fields on the record."""
    if logger.isEnabledFor(level):
        logger.log(level, format_fields(event, fields), extra={"event": event, "fields": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, then the event and its fields
    (or ``message`` for plain log calls)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        body: dict[str, Any] = {"time": stamp, "level": record.levelname, "logger": record.name}
        event = getattr(record, "event", None)
        if isinstance(event, str):
            body["event"] = event
            body.update(getattr(record, "fields", {}))
        else:
            body["message"] = record.getMessage()
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send the service's logs to ``stream`` (stderr) at ``level``, as text or JSON.

    Like ``logging.basicConfig`` it leaves a root logger that already has handlers
    alone, so a program embedding the service keeps its own logging set-up.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
