"""The one error shape every 4xx and 5xx answers with (DESIGN invariant 6).

    {"error": {"code": "...", "message": "...", "fields": [{"field": "...", "reason": "..."}]}}

Services raise `HeraldError` subclasses without knowing about HTTP; `install_error_handlers` turns
them, FastAPI's validation errors and Starlette's HTTP exceptions into that shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class HeraldError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        fields: Sequence[FieldError] = (),
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = list(fields)
        self.headers = headers
        if code is not None:
            self.code = code


class InvalidInput(HeraldError):
    status_code = 422
    code = "invalid"

    @classmethod
    def for_field(cls, field: str, reason: str) -> InvalidInput:
        return cls(f"{field}: {reason}", [FieldError(field, reason)])

    @classmethod
    def for_fields(cls, fields: Sequence[FieldError]) -> InvalidInput:
        """The first few problems make the message; all of them are in `fields`."""
        message = "; ".join(f"{f.field}: {f.reason}" for f in fields[:5]) or "invalid request"
        return cls(message, fields)


class NotAuthenticated(HeraldError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(HeraldError):
    status_code = 403
    code = "forbidden"


class NotFound(HeraldError):
    status_code = 404
    code = "not_found"


class Conflict(HeraldError):
    status_code = 409
    code = "conflict"


class RateLimited(HeraldError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(HeraldError):
    status_code = 503
    code = "unavailable"


# Response models, so that OpenAPI documents the error shape.
class ErrorField(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[ErrorField] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class ErrorJSONResponse(JSONResponse):
    """Written as ASCII: a reason may quote what the caller sent, and text that cannot be stored
    (a lone surrogate) cannot be written as UTF-8 either; as a JSON escape it can."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


def error_response(
    status_code: int,
    code: str,
    message: str,
    fields: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            code=code,
            message=message,
            fields=[ErrorField(field=f.field, reason=f.reason) for f in fields],
        )
    )
    return ErrorJSONResponse(body.model_dump(), status_code=status_code, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


# Tags of discriminated unions: Pydantic puts the chosen member's tag in an error's location
# ("conditions", 0, "profile", "value"), which names no field the caller sent.
_union_tags: set[str] = set()


def hide_union_tags(*tags: str) -> None:
    _union_tags.update(tags)


def _location(loc: Sequence[Any]) -> str:
    # ("body", "events", 3, "name") -> "events[3].name"; the part of the request is implied.
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"} and len(parts) > 1:
        parts = parts[1:]
    parts = [
        part
        for index, part in enumerate(parts)
        if not (part in _union_tags and index > 0 and isinstance(parts[index - 1], int))
    ]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def validation_fields(errors: Sequence[Any]) -> list[FieldError]:
    return [
        FieldError("body", "not valid JSON")
        if e.get("type") == "json_invalid"
        else FieldError(_location(e.get("loc", ())), _reason(e))
        for e in errors
    ]


def _reason(error: Any) -> str:
    # Pydantic prefixes the text of a ValueError from a validator; the reason reads better bare.
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HeraldError)
    async def _herald_error(_request: Request, exc: HeraldError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.fields, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        error = InvalidInput.for_fields(validation_fields(exc.errors()))
        return error_response(error.status_code, error.code, error.message, error.fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "an unexpected error occurred")
