"""Cross-origin access to the ingestion endpoints, and nothing else.

A website that embeds /sdk.js (or Segment's analytics.js, pointed at /v1/) calls Herald from its
own origin. The ingestion endpoints
authenticate with a public key, never with cookies, so any origin may call them without
credentials. Management endpoints get no CORS headers at all: browsers keep other sites out.

Browsers send a cross-origin POST without a preflight only when its body is `text/plain` (what
`navigator.sendBeacon` sends for a string, too). The snippet sends its JSON that way, so this
middleware reads a `text/plain` body on these paths as JSON.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.events.segment import PATHS as SEGMENT_PATHS

INGESTION_PATHS = frozenset({"/api/track", "/api/track/batch", "/api/identify", *SEGMENT_PATHS})
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, Idempotency-Key"
EXPOSED_HEADERS = (
    "Retry-After, Idempotent-Replayed, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)
PREFLIGHT_MAX_AGE = "86400"


class IngestionCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in INGESTION_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight()(scope, receive, send)
            return
        if scope["method"] == "POST" and _is_text_plain(headers.get("content-type", "")):
            scope = dict(scope)
            scope["headers"] = [
                (name, b"application/json" if name == b"content-type" else value)
                for name, value in scope["headers"]
            ]
        if "origin" not in headers:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = "*"
                response_headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _is_text_plain(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/plain"


def _preflight() -> Response:
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        },
    )
