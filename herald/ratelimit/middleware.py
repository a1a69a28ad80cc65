"""Rate limits at the edge of the application: public requests are admitted here, and every
answer of a limited class gets the RateLimit-* headers (IETF draft-ietf-httpapi-ratelimit-headers)
of the window closest to running out, whether it is a success, an error or a 429."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.errors import HeraldError, NotAuthenticated, RateLimited, error_response
from herald.ratelimit import policy
from herald.ratelimit.blocks import Quota


def quota_headers(quota: Quota) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(quota.limit).encode()),
        (b"ratelimit-remaining", str(quota.remaining).encode()),
        (b"ratelimit-reset", str(quota.reset).encode()),
    ]


def _answer(error: HeraldError) -> JSONResponse:
    return error_response(error.status_code, error.code, error.message, error.fields, error.headers)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not policy.enabled():
            await self.app(scope, receive, send)
            return
        request_class = policy.request_class(scope["path"])
        if request_class is None:
            await self.app(scope, receive, send)
            return
        record = policy.Record(request_class)
        scope[policy.SCOPE_KEY] = record

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start" and record.quota is not None:
                message["headers"] = [*message.get("headers", ()), *quota_headers(record.quota)]
            await send(message)

        if request_class == "public":
            try:
                await policy.admit_address(scope)
            except RateLimited as refused:
                await _answer(refused)(scope, receive, send_with_quota)
                return
        await self.app(scope, receive, send_with_quota)


def install_rate_limits(app: FastAPI) -> None:
    """The middleware, and the answer to a request of a keyed class without valid credentials:
    counted against its client address, so that guessing keys is limited like public requests."""
    app.add_middleware(RateLimitMiddleware)

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, exc: NotAuthenticated) -> JSONResponse:
        record = request.scope.get(policy.SCOPE_KEY)
        if record is not None and record.quota is None and record.request_class != "public":
            try:
                await policy.admit_address(request.scope)
            except RateLimited as refused:
                return _answer(refused)
        return _answer(exc)
