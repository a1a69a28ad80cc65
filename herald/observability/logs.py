"""Logging: plain text by default, JSON lines with HERALD_LOG_FORMAT=json.

A JSON line carries the time, level, logger and message, the request id and organization id of
the request being served (from `request_context`), and any ids a log call passes in `extra`
(`message_id`, `job_id`, ...). No request bodies, headers, query strings or addresses are logged:
a line says which route answered what, not what was sent to it, so API keys, tokens in links
and people's email addresses stay out of the logs.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The request being served: a dict so that code deeper in the request (the auth dependency, in
# a thread of the pool with a copy of the context) can add the organization for the access log.
request_context: ContextVar[dict[str, Any] | None] = ContextVar("herald_request", default=None)

# Ids a log call may pass in `extra`, copied into the JSON line.
ID_FIELDS = ("message_id", "job_id", "campaign_id", "flow_id", "org_id", "process_id")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_from(header: str | None) -> str:
    """A caller's X-Request-ID when it is a plain token, else a new one."""
    if header and _SAFE_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def note_organization(org_id: uuid.UUID) -> None:
    """Record the request's organization for its log lines (called once it is authenticated)."""
    context = request_context.get()
    if context is not None:
        context["org_id"] = str(org_id)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = request_context.get()
        if context is not None:
            line.update(context)
        for field in ID_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = str(value)
        http = getattr(record, "http", None)
        if http is not None:
            line["http"] = http
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Set up the root logger (and uvicorn's, which keep their own handlers otherwise)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn writes the access lines in text; in JSON Herald's middleware does, without the
    # query string (tracking links carry tokens there).
    logging.getLogger("herald.access").disabled = log_format != "json"
    if log_format == "json":
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers[:] = []
            uvicorn_logger.propagate = True


def uvicorn_log_config(log_format: str) -> dict[str, Any] | None:
    """uvicorn's `log_config`: its own (colours, access lines with query strings) for text; for
    JSON none, so its records reach the root logger's JSON handler."""
    if log_format != "json":
        return None
    return {"version": 1, "disable_existing_loggers": False}
