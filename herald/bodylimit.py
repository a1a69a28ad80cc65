"""Request body size limits, enforced before a body is parsed: by Content-Length when the client
sends one, and by counting otherwise (chunked uploads)."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.errors import FieldError, error_response

MB = 1024 * 1024
DEFAULT_LIMIT = 1 * MB
# Longest prefix wins.
LIMITS: dict[str, int] = {
    "/api/track/batch": 5 * MB,
    "/v1/batch": 5 * MB,
    "/api/imports/": 1024 * MB,
    "/api/suppressions/bulk": 5 * MB,
    # The transport's ceiling; the image library refuses a file over HERALD_IMAGE_MAX_BYTES.
    "/api/images": 41 * MB,
}


def limit_for(path: str) -> int:
    matches = [prefix for prefix in LIMITS if path.startswith(prefix)]
    return LIMITS[max(matches, key=len)] if matches else DEFAULT_LIMIT


class BodyTooLarge(HTTPException):
    """Raised while the body streams in. An HTTPException, so that FastAPI's body parsing lets it
    through (it turns other exceptions into a 400) and the error handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit // MB} MB")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> ASGIApp:
    reason = f"the request body is larger than {limit // MB} MB"
    return error_response(413, "too_large", reason, [FieldError("body", reason)])
