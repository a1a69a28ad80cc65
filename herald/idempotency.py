"""Idempotency-Key for API writes (DESIGN invariant 4).

A client that retries a POST, PUT, PATCH or DELETE under /api/ or /v1/ with the same
`Idempotency-Key` header gets the first answer again (marked `Idempotent-Replayed: true`) and the
write happens once. Keys are scoped to the credential that sent them and kept for 24 hours.

- The same key with a different request (method, path, query or body) is refused with 422.
- While the first request is still running, a retry gets 409 and `Retry-After`.
- A 5xx answer is not stored: the failed request changed nothing, so a retry runs again.
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.db import get_database, utcnow
from herald.errors import FieldError, error_response
from herald.models import IdempotencyRecord
from herald.worker import register_sweep

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
# A record still unfinished after this long belongs to a request that died with its process.
ABANDONED_AFTER = timedelta(minutes=5)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PREFIXES = ("/api/", "/v1/")
SPOOL_IN_MEMORY = 1024 * 1024
REPLAY_CHUNK = 64 * 1024


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _credential(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization:
        return authorization
    cookie = _header(scope, b"cookie")
    return f"cookie:{cookie}" if cookie else None


def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def _start_fingerprint(method: str, path: str, query: bytes) -> Any:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query):
        digest.update(part + b"\0")
    return digest


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What identifies a request: reusing a key for another fingerprint is refused."""
    digest = _start_fingerprint(method, path, query)
    digest.update(body)
    return str(digest.hexdigest())


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or not str(scope["path"]).startswith(PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        key = _header(scope, HEADER.encode())
        credential = _credential(scope)
        if key is None or credential is None:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            reason = f"must be 1 to {MAX_KEY_LENGTH} characters"
            response = error_response(
                400, "invalid", f"Idempotency-Key {reason}", [FieldError("Idempotency-Key", reason)]
            )
            await response(scope, receive, send)
            return

        scope_hash = credential_hash(credential)
        digest = _start_fingerprint(scope["method"], scope["path"], scope.get("query_string", b""))
        # Spooled: an import upload can be large, and only its first megabyte stays in memory.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
            await _read_body(receive, body, digest)
            request_hash = digest.hexdigest()
            existing = await run_in_threadpool(reserve, scope_hash, key, request_hash)
            if existing is not None:
                await _answer_from_record(existing, request_hash, scope, receive, send)
                return
            body.seek(0)
            try:
                status, content_type, chunks = await _run(self.app, scope, body, receive, send)
            except BaseException:
                await run_in_threadpool(_finish, scope_hash, key, 500, None, b"")
                raise
        await run_in_threadpool(_finish, scope_hash, key, status, content_type, b"".join(chunks))


async def _read_body(receive: Receive, body: IO[bytes], digest: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            body.write(chunk)
            digest.update(chunk)
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            return


def _record_query(scope_hash: str, key: str) -> sa.Select[IdempotencyRecord]:
    return sa.select(IdempotencyRecord).where(
        IdempotencyRecord.scope_hash == scope_hash, IdempotencyRecord.key == key
    )


def reserve(scope_hash: str, key: str, request_hash: str) -> IdempotencyRecord | None:
    """Claim the key for this request; return the earlier record if someone already has it."""
    with get_database().transaction() as session:
        existing = session.scalar(_record_query(scope_hash, key))
        now = utcnow()
        if existing is not None:
            expired = existing.created_at < now - RETENTION
            abandoned = not existing.completed and existing.created_at < now - ABANDONED_AFTER
            if not (expired or abandoned):
                return existing
            session.delete(existing)
            session.flush()
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyRecord(scope_hash=scope_hash, key=key, request_hash=request_hash)
                )
        except IntegrityError:
            # Another request with this key won the race a moment ago.
            return session.scalar(_record_query(scope_hash, key))
    return None


def _finish(scope_hash: str, key: str, status: int, content_type: str | None, body: bytes) -> None:
    with get_database().transaction() as session:
        record = session.scalar(_record_query(scope_hash, key))
        if record is None:
            return
        if status >= 500:
            session.delete(record)
            return
        record.completed = True
        record.response_status = status
        record.response_content_type = content_type
        record.response_body = body


async def _answer_from_record(
    record: IdempotencyRecord, request_hash: str, scope: Scope, receive: Receive, send: Send
) -> None:
    response: Response
    if record.request_hash != request_hash:
        reason = "already used for a different request"
        response = error_response(
            422,
            "idempotency_key_reused",
            f"this Idempotency-Key was {reason}",
            [FieldError("Idempotency-Key", reason)],
        )
    elif not record.completed:
        response = error_response(
            409,
            "request_in_progress",
            "a request with this Idempotency-Key is still being processed; retry shortly",
            headers={"Retry-After": "1"},
        )
    else:
        response = Response(
            content=record.response_body or b"",
            status_code=record.response_status or 200,
            media_type=record.response_content_type,
            headers={"Idempotent-Replayed": "true"},
        )
    await response(scope, receive, send)


async def _run(
    app: ASGIApp, scope: Scope, body: IO[bytes], receive: Receive, send: Send
) -> tuple[int, str | None, list[bytes]]:
    """Run the request with its buffered body, passing the response through and keeping a copy."""
    finished = False

    async def replay_body() -> Message:
        nonlocal finished
        if finished:
            return await receive()  # only a disconnect can come now
        chunk = body.read(REPLAY_CHUNK)
        more = len(chunk) == REPLAY_CHUNK
        finished = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    status = 500
    content_type: str | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status, content_type
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    content_type = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        await send(message)

    await app(scope, replay_body, capture)
    return status, content_type, chunks


@register_sweep("idempotency-expiry")
def delete_expired_records(session: Session, now: datetime) -> int:
    result = session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
