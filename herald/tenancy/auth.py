"""Who is calling, as FastAPI dependencies.

- `ManagementAuth`: the management API under /api/. A secret key (`Authorization: Bearer sk_…`) or
  a dashboard session cookie; cookie requests with unsafe methods must echo the CSRF token in the
  `X-CSRF-Token` header. Public keys are refused with 403.
- `PublicAuth`: ingestion endpoints. A public or secret key as a bearer token, as the HTTP Basic
  user (how Segment's libraries send their write key), or as the `api_key` query parameter (for
  browsers that send beacons, which cannot set headers).
- `SessionAuth`: endpoints that only make sense for a signed-in person (changing one's password).
- `IngestionAuth`: `PublicAuth` as an async dependency, for ingestion routes that run on the
  event loop; it needs no database session while the key is cached.

Ingestion looks keys up through a short-lived in-process cache (`KEY_CACHE_SECONDS`): at thousands
of events a second, one query per request for the same key would be a large part of the work. A
revoked key is refused at once by the process that revoked it (the cache is cleared when the
revocation commits) and by every other process within `KEY_CACHE_SECONDS`. The management API
never uses the cache.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session
from starlette.concurrency import run_in_threadpool

from herald.db import Database, get_database, on_commit
from herald.errors import NotAuthenticated, PermissionDenied
from herald.models import ApiKey, User, UserSession
from herald.observability.logs import note_organization
from herald.ratelimit.policy import Kind, admit, admit_async
from herald.security import hash_token
from herald.settings import get_settings
from herald.tenancy import service
from herald.tenancy.deps import DbSession

SESSION_COOKIE = "herald_session"
CSRF_COOKIE = "herald_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Secret keys act for the organization with admin rights; ownership stays with people.
SECRET_KEY_ROLE = "admin"  # noqa: S105 (a role name)


@dataclass
class Principal:
    org_id: uuid.UUID
    kind: Literal["user", "secret_key", "public_key"]
    role: str
    user: User | None = None
    # The key's row, for the management API; None for ingestion, whose keys come from the cache.
    api_key: ApiKey | None = None
    user_session: UserSession | None = None
    session_token: str | None = None
    # The key that authenticated the request (None for a dashboard user).
    key_id: uuid.UUID | None = None

    def require_role(self, minimum: str) -> None:
        if not service.has_role(self.role, minimum):
            raise PermissionDenied(f"this needs the {minimum} role or higher")

    @property
    def actor_id(self) -> uuid.UUID:
        """Who is counted for rate limits: the key, or the session's user."""
        actor = self.key_id if self.user is None else self.user.id
        assert actor is not None
        return actor


def session_lifetime() -> timedelta:
    return timedelta(days=get_settings().session_days)


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthenticated("malformed basic authorization header") from None
        return decoded.partition(":")[0] or None
    return None


# --- The ingestion key cache ---------------------------------------------------------------------

# How long a process trusts a key it has looked up. A key revoked by another process (or directly
# in the database) keeps working in this one for at most this long.
KEY_CACHE_SECONDS = 5.0
KEY_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class _CachedKey:
    """What ingestion needs of a key: plain values, not the ORM object (a rollback in any session
    that loaded it would expire it)."""

    org_id: uuid.UUID
    kind: str
    key_id: uuid.UUID


# hash of the key -> (when it stops being trusted, the database it came from, the key)
_key_cache: dict[str, tuple[float, Database, _CachedKey]] = {}
_key_cache_lock = threading.Lock()


def clear_key_cache() -> None:
    """Forget every cached key: the next ingestion request looks its key up again."""
    with _key_cache_lock:
        _key_cache.clear()


def _cached_key(key_hash: str) -> _CachedKey | None:
    entry = _key_cache.get(key_hash)
    if entry is None:
        return None
    expires, database, key = entry
    if time.monotonic() >= expires or database is not get_database():
        with _key_cache_lock:
            _key_cache.pop(key_hash, None)
        return None
    return key


def _cache_key(key_hash: str, key: _CachedKey) -> None:
    with _key_cache_lock:
        if len(_key_cache) >= KEY_CACHE_SIZE:
            _key_cache.clear()  # many keys in a few seconds: start over rather than grow
        _key_cache[key_hash] = (time.monotonic() + KEY_CACHE_SECONDS, get_database(), key)


@event.listens_for(ApiKey.revoked_at, "set")
def _forget_revoked_key(target: ApiKey, value: datetime | None, *_args: Any) -> None:
    """A revocation in this process empties the cache, now and again when it commits (in between,
    a concurrent request could cache the key again from the state before the revocation)."""
    if value is None:
        return
    session = object_session(target)
    if session is not None:
        on_commit(session, clear_key_cache)
    clear_key_cache()


def _principal(
    kind: str, org_id: uuid.UUID, key_id: uuid.UUID, api_key: ApiKey | None = None
) -> Principal:
    principal_kind: Literal["public_key", "secret_key"] = (
        "secret_key" if kind == "secret" else "public_key"
    )
    return Principal(
        org_id=org_id, kind=principal_kind, role=SECRET_KEY_ROLE, api_key=api_key, key_id=key_id
    )


def key_principal(session: Session, token: str, *, cached: bool = False) -> Principal:
    """The principal of an API key. `cached` (ingestion only) may answer from the key cache;
    such principals carry no `api_key` object."""
    key_hash = hash_token(token) if cached else ""
    if cached and (hit := _cached_key(key_hash)) is not None:
        return _principal(hit.kind, hit.org_id, hit.key_id)
    found = service.resolve_api_key(session, token)
    if found is None:
        raise NotAuthenticated("invalid or revoked API key")
    if not cached:
        return _principal(found.kind, found.org_id, found.id, found)
    key = _CachedKey(found.org_id, found.kind, found.id)
    _cache_key(key_hash, key)
    return _principal(key.kind, key.org_id, key.key_id)


def _lookup_key(token: str) -> Principal:
    with get_database().transaction() as session:
        return key_principal(session, token, cached=True)


def _session_principal(request: Request, session: DbSession) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = service.resolve_session(session, token, lifetime=session_lifetime())
    if found is None:
        raise NotAuthenticated("your session has ended; sign in again")
    record, user = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, service.csrf_token_for(token)):
            raise PermissionDenied(f"missing or wrong {CSRF_HEADER} header", code="csrf_failed")
    return Principal(
        org_id=user.org_id,
        kind="user",
        role=user.role,
        user=user,
        user_session=record,
        session_token=token,
    )


def admitted(request: Request, session: Session, principal: Principal, kind: Kind) -> Principal:
    """The principal, once its request is counted against its rate limits (or refused)."""
    note_organization(principal.org_id)
    admit(request.scope, kind, principal.org_id, principal.actor_id, session)
    return principal


def management_principal(request: Request, session: DbSession) -> Principal:
    token = _bearer_token(request)
    if token is not None:
        principal = key_principal(session, token)
        if principal.kind != "secret_key":
            raise PermissionDenied("public keys can only send events; use a secret key")
        return admitted(request, session, principal, "management")
    principal_or_none = _session_principal(request, session)
    if principal_or_none is None:
        raise NotAuthenticated(
            "sign in, or send a secret key as 'Authorization: Bearer sk_…'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return admitted(request, session, principal_or_none, "management")


def _ingestion_token(request: Request) -> str:
    token = _bearer_token(request) or request.query_params.get("api_key")
    if not token:
        raise NotAuthenticated(
            "send a public key as 'Authorization: Bearer pk_…' or as the basic-auth user",
            headers={"WWW-Authenticate": "Basic"},
        )
    return token


def public_principal(request: Request, session: DbSession) -> Principal:
    principal = key_principal(session, _ingestion_token(request), cached=True)
    return admitted(request, session, principal, "ingestion")


async def ingestion_principal(request: Request) -> Principal:
    """`public_principal` without a request session: from the key cache on the event loop, else
    looked up in a transaction of its own in the thread pool."""
    token = _ingestion_token(request)
    hit = _cached_key(hash_token(token))
    if hit is not None:
        principal = _principal(hit.kind, hit.org_id, hit.key_id)
    else:
        principal = await run_in_threadpool(_lookup_key, token)
    note_organization(principal.org_id)
    await admit_async(request.scope, "ingestion", principal.org_id, principal.actor_id)
    return principal


def session_principal(request: Request, session: DbSession) -> Principal:
    principal = _session_principal(request, session)
    if principal is None:
        raise NotAuthenticated("this needs a signed-in dashboard user")
    return admitted(request, session, principal, "management")


ManagementAuth = Annotated[Principal, Depends(management_principal)]
PublicAuth = Annotated[Principal, Depends(public_principal)]
IngestionAuth = Annotated[Principal, Depends(ingestion_principal)]
SessionAuth = Annotated[Principal, Depends(session_principal)]
