"""JSON logs that carry `order_id`/`event_id`, so one order can be followed across services.

`bind(order_id=...)` puts ids in a context variable for the current request or
message; every record logged inside it carries them, and `log.info(..., extra={})`
adds more fields.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from typing import Iterator

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextlib.contextmanager
def bind(**fields) -> Iterator[None]:
    """Attach fields (None values skipped) to every log record in this context."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(_context.get() or {})
        doc.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__(f"%(asctime)s {service} %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ctx = " ".join(f"{k}={v}" for k, v in (_context.get() or {}).items())
        return super().format(record) + (f" [{ctx}]" if ctx else "")


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> logging.Logger:
    """Configure the root logger once per process; returns the service's logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("pika", "kafka", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(service)
