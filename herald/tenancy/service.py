"""Organizations, users, dashboard sessions and API keys. No HTTP here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import get_database, on_commit, utcnow
from herald.errors import Conflict, FieldError, InvalidInput, NotAuthenticated, PermissionDenied
from herald.models import ApiKey, Organization, User, UserSession
from herald.security import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    hash_token,
    random_token,
    sign,
    verify_password,
)
from herald.tenancy.scope import get_scoped, scoped

ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}
KEY_PREFIXES = {"public": "pk_", "secret": "sk_"}
# Writing last_used_at on every tracking call would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
SESSION_REFRESH = timedelta(hours=1)


def has_role(role: str, minimum: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[minimum]


# --- Organizations ------------------------------------------------------------------------------


def create_organization(
    session: Session,
    name: str,
    admin_email: str,
    admin_password: str,
    *,
    name_confirmed: bool = True,
) -> tuple[Organization, User]:
    organization = Organization(name=name, name_confirmed=name_confirmed)
    session.add(organization)
    session.flush()
    owner = create_user(session, organization.id, admin_email, admin_password, role="owner")
    return organization, owner


def get_organization(session: Session, org_id: uuid.UUID) -> Organization:
    organization = session.get(Organization, org_id)
    if organization is None:
        raise NotAuthenticated("organization no longer exists")
    return organization


def default_region(session: Session, org_id: uuid.UUID) -> str | None:
    """The region phone numbers without a country code are read in."""
    return session.scalar(sa.select(Organization.default_region).where(Organization.id == org_id))


def update_organization(
    session: Session,
    org_id: uuid.UUID,
    *,
    name: str | None = None,
    timezone: str | None = None,
    default_region: str | None = None,
) -> Organization:
    organization = get_organization(session, org_id)
    if name is not None:
        organization.name = name
        organization.name_confirmed = True
    if timezone is not None:
        organization.timezone = timezone
    if default_region is not None:
        organization.default_region = default_region
    session.flush()
    return organization


# --- Users --------------------------------------------------------------------------------------


def create_user(
    session: Session,
    org_id: uuid.UUID,
    email: str,
    password: str,
    *,
    role: str = "member",
    name: str = "",
) -> User:
    user = User(
        org_id=org_id, email=email, name=name, role=role, password_hash=hash_password(password)
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        raise Conflict(
            "a user with this email already exists",
            [FieldError("email", "already registered")],
        ) from exc
    return user


def list_users(session: Session, org_id: uuid.UUID) -> list[User]:
    return list(session.scalars(scoped(User, org_id).order_by(User.created_at, User.id)))


def get_user(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    return get_scoped(session, User, org_id, user_id)


def _owner_count(session: Session, org_id: uuid.UUID) -> int:
    query = sa.select(sa.func.count()).select_from(User)
    return session.scalar(query.where(User.org_id == org_id, User.role == "owner")) or 0


def update_user(
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    actor_role: str,
    name: str | None = None,
    role: str | None = None,
) -> User:
    user = get_user(session, org_id, user_id)
    if role is not None and role != user.role:
        # Only owners hand out or take away ownership, and an organization keeps one owner.
        if "owner" in (role, user.role) and actor_role != "owner":
            raise PermissionDenied("only an owner can grant or remove the owner role")
        if user.role == "owner" and _owner_count(session, org_id) == 1:
            raise Conflict(
                "the organization needs at least one owner",
                [FieldError("role", "this is the last owner")],
            )
        user.role = role
    if name is not None:
        user.name = name
    session.flush()
    return user


def delete_user(
    session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, actor_role: str
) -> None:
    user = get_user(session, org_id, user_id)
    if user.role == "owner":
        if actor_role != "owner":
            raise PermissionDenied("only an owner can remove an owner")
        if _owner_count(session, org_id) == 1:
            raise Conflict("the organization needs at least one owner; this is the last one")
    session.delete(user)
    session.flush()


def check_new_user_role(actor_role: str, role: str) -> None:
    if role == "owner" and actor_role != "owner":
        raise PermissionDenied("only an owner can create another owner")


def change_password(
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    *,
    keep_session_id: uuid.UUID | None,
) -> None:
    """Set a new password and end every other session of the user."""
    if not verify_password(user.password_hash, current_password):
        raise InvalidInput(
            "the current password is wrong", [FieldError("current_password", "does not match")]
        )
    user.password_hash = hash_password(new_password)
    session.execute(
        sa.delete(UserSession).where(
            UserSession.user_id == user.id, UserSession.id != keep_session_id
        )
    )
    session.flush()


# --- Dashboard sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedSession:
    user: User
    token: str
    csrf_token: str
    record: UserSession


def csrf_token_for(session_token: str) -> str:
    """Bound to the session: a stolen CSRF token is useless without its cookie, and vice versa."""
    return sign("csrf", session_token)


def authenticate_password(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        verify_password(DUMMY_PASSWORD_HASH, password)  # same time whether or not the user exists
        return None
    return user if verify_password(user.password_hash, password) else None


def start_session(
    session: Session, user: User, *, lifetime: timedelta, user_agent: str = ""
) -> StartedSession:
    token = random_token()
    now = utcnow()
    record = UserSession(
        org_id=user.org_id,
        user_id=user.id,
        token_hash=hash_token(token),
        expires_at=now + lifetime,
        last_seen_at=now,
        user_agent=user_agent[:400],
    )
    session.add(record)
    user.last_login_at = now
    session.flush()
    return StartedSession(user=user, token=token, csrf_token=csrf_token_for(token), record=record)


def resolve_session(
    session: Session, token: str, *, lifetime: timedelta
) -> tuple[UserSession, User] | None:
    record = session.scalar(
        sa.select(UserSession).where(UserSession.token_hash == hash_token(token))
    )
    now = utcnow()
    if record is None or record.expires_at <= now:
        return None
    user = session.get(User, record.user_id)
    if user is None:
        return None
    # Sliding expiry, written at most once an hour.
    if now - record.last_seen_at > SESSION_REFRESH:
        record.last_seen_at = now
        record.expires_at = now + lifetime
    return record, user


def end_session(session: Session, token: str) -> None:
    session.execute(sa.delete(UserSession).where(UserSession.token_hash == hash_token(token)))


# --- API keys -----------------------------------------------------------------------------------


def create_api_key(
    session: Session,
    org_id: uuid.UUID,
    name: str,
    kind: Literal["public", "secret"],
    *,
    created_by_user_id: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """Make a key and return it with its plaintext, which is never stored and never shown again."""
    plaintext = KEY_PREFIXES[kind] + random_token(24)
    api_key = ApiKey(
        org_id=org_id,
        name=name,
        kind=kind,
        prefix=plaintext[:10],
        key_hash=hash_token(plaintext),
        created_by_user_id=created_by_user_id,
    )
    session.add(api_key)
    session.flush()
    return api_key, plaintext


def list_api_keys(session: Session, org_id: uuid.UUID) -> list[ApiKey]:
    return list(session.scalars(scoped(ApiKey, org_id).order_by(ApiKey.created_at, ApiKey.id)))


def get_api_key(session: Session, org_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    return get_scoped(session, ApiKey, org_id, key_id)


def revoke_api_key(session: Session, org_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    api_key = get_api_key(session, org_id, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        session.flush()
    return api_key


def resolve_api_key(session: Session, plaintext: str) -> ApiKey | None:
    """The live key for a plaintext, or None if unknown or revoked."""
    api_key = session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == hash_token(plaintext)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    now = utcnow()
    stale = api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION
    marked = _last_marked.get(api_key.id)
    if stale and (marked is None or now - marked > LAST_USED_RESOLUTION):
        _last_marked[api_key.id] = now
        key_id = api_key.id
        on_commit(session, lambda: _mark_used(key_id, now))
    return api_key


# When this process last wrote each key's last_used_at: concurrent requests with one key must
# not all queue on that row's lock, each inside its own request's transaction.
_last_marked: dict[uuid.UUID, datetime] = {}


def _mark_used(key_id: uuid.UUID, when: datetime) -> None:
    """Record a key's use in a transaction of its own, after the request's commit."""
    with get_database().transaction() as session:
        session.execute(
            sa.update(ApiKey)
            .where(
                ApiKey.id == key_id,
                sa.or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < when - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=when)
        )
