"""Who is calling, as FastAPI dependencies.

- `ManagementAuth`: the management API under /api/. A secret key (`Authorization: Bearer sk_…`) or
  a dashboard session cookie; cookie requests with unsafe methods must echo the CSRF token in the
  `X-CSRF-Token` header. Public keys are refused with 403.
- `PublicAuth`: ingestion endpoints. A public or secret key as a bearer token, as the HTTP Basic
  user (how Segment's libraries send their write key), or as the `api_key` query parameter (for
  browsers that send beacons, which cannot set headers).
- `SessionAuth`: endpoints that only make sense for a signed-in person (changing one's password).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Depends, Request

from herald.errors import NotAuthenticated, PermissionDenied
from herald.models import ApiKey, User, UserSession
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
    api_key: ApiKey | None = None
    user_session: UserSession | None = None
    session_token: str | None = None

    def require_role(self, minimum: str) -> None:
        if not service.has_role(self.role, minimum):
            raise PermissionDenied(f"this needs the {minimum} role or higher")


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


def key_principal(session: DbSession, token: str) -> Principal:
    api_key = service.resolve_api_key(session, token)
    if api_key is None:
        raise NotAuthenticated("invalid or revoked API key")
    kind: Literal["public_key", "secret_key"] = (
        "secret_key" if api_key.kind == "secret" else "public_key"
    )
    return Principal(org_id=api_key.org_id, kind=kind, role=SECRET_KEY_ROLE, api_key=api_key)


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


def management_principal(request: Request, session: DbSession) -> Principal:
    token = _bearer_token(request)
    if token is not None:
        principal = key_principal(session, token)
        if principal.kind != "secret_key":
            raise PermissionDenied("public keys can only send events; use a secret key")
        return principal
    principal_or_none = _session_principal(request, session)
    if principal_or_none is None:
        raise NotAuthenticated(
            "sign in, or send a secret key as 'Authorization: Bearer sk_…'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal_or_none


def public_principal(request: Request, session: DbSession) -> Principal:
    token = _bearer_token(request) or request.query_params.get("api_key")
    if not token:
        raise NotAuthenticated(
            "send a public key as 'Authorization: Bearer pk_…' or as the basic-auth user",
            headers={"WWW-Authenticate": "Basic"},
        )
    return key_principal(session, token)


def session_principal(request: Request, session: DbSession) -> Principal:
    principal = _session_principal(request, session)
    if principal is None:
        raise NotAuthenticated("this needs a signed-in dashboard user")
    return principal


ManagementAuth = Annotated[Principal, Depends(management_principal)]
PublicAuth = Annotated[Principal, Depends(public_principal)]
SessionAuth = Annotated[Principal, Depends(session_principal)]
