"""Structured JSON logs that never carry protected health information.

Only whitelisted ``extra`` fields reach the output: ids, states, counts,
timings and error kinds. Answer values, names, identifier values and query
strings are never passed to a logger in the first place; the whitelist is
the second line of defence.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

SAFE_FIELDS = frozenset(
    {
        "response_id",
        "resource_id",
        "resource_type",
        "state",
        "tier",
        "task",
        "status",
        "method",
        "route",
        "path",
        "duration_ms",
        "count",
        "attempt",
        "error",
        "error_kind",
        "http_status",
        "retry_in_s",
        "service",
        "url",
        "knowledge_version",
        "event",
        "coordinator",
        "overdue_s",
    }
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key in SAFE_FIELDS:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages may quote the data that caused them.
            entry["exception"] = record.exc_info[0].__name__
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, Celery's) through the JSON formatter."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "celery", "celery.app.trace"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log prints query strings, which can hold identifiers.
    logging.getLogger("uvicorn.access").disabled = True
