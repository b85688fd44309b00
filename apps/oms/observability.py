"""Logging for every process: trace ids on each line, text or JSON, secrets masked.

The trace id lives in a context variable set per HTTP request (and per command later); a filter
copies it onto each record and masks anything that looks like a key, token or credential.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys

trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="-")

_SECRET_PATTERNS = (
    re.compile(r"oms_[A-Za-z0-9_\-]{20,}"),  # our API keys
    re.compile(r"enc:v1:[A-Za-z0-9_\-=]+"),  # encrypted credentials
    re.compile(
        r"(?i)((?:x-api-key|authorization|cookie|api_key|secret|passphrase|password)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
    ),
)


def mask_secrets(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub("oms_***", text)
    text = _SECRET_PATTERNS[1].sub("enc:v1:***", text)
    return _SECRET_PATTERNS[2].sub(r"\1***", text)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = trace_id_var.get()
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "trace_id": getattr(record, "trace_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(payload)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s")
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_oms", False):
            root.removeHandler(existing)
    handler._oms = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
