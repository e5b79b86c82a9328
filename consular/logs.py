"""Log set-up: readable text for the embedded default, one JSON object per line in production.

Log records carry the request id; code must not log personal data (names, phones, ID numbers).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import g, has_request_context


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(g, "request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


# The application's two packages; each gets the handler (the root logger is left to the host).
APP_LOGGERS = ("consular", "alerts")


def configure_logging(log_format: str) -> None:
    handler = logging.StreamHandler()
    handler._consular = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        if any(getattr(h, "_consular", False) for h in logger.handlers):
            continue
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
