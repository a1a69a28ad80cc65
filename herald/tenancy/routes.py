"""HTTP handlers for sign-in, the current caller, the organization, users and API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from herald.errors import FieldError, NotAuthenticated
from herald.messaging import tracking
from herald.ratelimit import hit
from herald.routing import JsonBodyRoute
from herald.settings import get_settings
from herald.tenancy import schemas, service
from herald.tenancy.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ManagementAuth,
    SessionAuth,
    session_lifetime,
)
from herald.tenancy.deps import DbSession

router = APIRouter(route_class=JsonBodyRoute)

LOGIN_LIMIT_PER_EMAIL = "10/minute"
LOGIN_LIMIT_PER_ADDRESS = "60/minute"


def _set_session_cookies(response: Response, token: str, csrf_token: str) -> None:
    settings = get_settings()
    max_age = int(session_lifetime().total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
        path="/",
    )
    # Readable by the dashboard's JavaScript, which echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="lax",
        secure=settings.cookies_secure,
        path="/",
    )


@router.post("/api/auth/login", operation_id="login", tags=["account"])
def login(
    body: schemas.LoginRequest, request: Request, response: Response, session: DbSession
) -> schemas.Session:
    client = request.client.host if request.client else "unknown"
    hit(LOGIN_LIMIT_PER_ADDRESS, "login-address", client)
    hit(LOGIN_LIMIT_PER_EMAIL, "login-email", body.email)
    user = service.authenticate_password(session, body.email, body.password)
    if user is None:
        raise NotAuthenticated(
            "wrong email or password", [FieldError("password", "wrong email or password")]
        )
    started = service.start_session(
        session,
        user,
        lifetime=session_lifetime(),
        user_agent=request.headers.get("user-agent", ""),
    )
    _set_session_cookies(response, started.token, started.csrf_token)
    return schemas.Session(
        user=schemas.User.model_validate(user),
        organization=schemas.Organization.model_validate(
            service.get_organization(session, user.org_id)
        ),
        csrf_token=started.csrf_token,
    )


@router.post(
    "/api/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="logout",
    tags=["account"],
)
def logout(auth: SessionAuth, response: Response, session: DbSession) -> None:
    assert auth.session_token is not None
    service.end_session(session, auth.session_token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/api/me", operation_id="get_me", tags=["account"])
def get_me(auth: ManagementAuth, session: DbSession) -> schemas.Me:
    organization = schemas.Organization.model_validate(
        service.get_organization(session, auth.org_id)
    )
    if auth.user is not None:
        assert auth.session_token is not None
        return schemas.Me(
            kind="user",
            role=auth.user.role,
            organization=organization,
            user=schemas.User.model_validate(auth.user),
            csrf_token=service.csrf_token_for(auth.session_token),
            links_base_url=tracking.base_url(),
        )
    return schemas.Me(
        kind="secret_key",
        role="admin",
        organization=organization,
        api_key=schemas.ApiKey.model_validate(auth.api_key),
        links_base_url=tracking.base_url(),
    )


@router.post(
    "/api/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="change_password",
    tags=["account"],
)
def change_password(body: schemas.PasswordChange, auth: SessionAuth, session: DbSession) -> None:
    assert auth.user is not None and auth.user_session is not None
    service.change_password(
        session,
        auth.user,
        body.current_password,
        body.new_password,
        keep_session_id=auth.user_session.id,
    )


# --- Organization -------------------------------------------------------------------------------


@router.get("/api/organization", operation_id="get_organization", tags=["organization"])
def get_organization(auth: ManagementAuth, session: DbSession) -> schemas.Organization:
    return schemas.Organization.model_validate(service.get_organization(session, auth.org_id))


@router.patch("/api/organization", operation_id="update_organization", tags=["organization"])
def update_organization(
    body: schemas.OrganizationUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.Organization:
    auth.require_role("admin")
    organization = service.update_organization(
        session,
        auth.org_id,
        name=body.name,
        timezone=body.timezone,
        default_region=body.default_region,
    )
    return schemas.Organization.model_validate(organization)


# --- Users --------------------------------------------------------------------------------------


@router.post(
    "/api/users", status_code=status.HTTP_201_CREATED, operation_id="create_user", tags=["users"]
)
def create_user(body: schemas.UserCreate, auth: ManagementAuth, session: DbSession) -> schemas.User:
    auth.require_role("admin")
    service.check_new_user_role(auth.role, body.role)
    user = service.create_user(
        session, auth.org_id, body.email, body.password, role=body.role, name=body.name
    )
    return schemas.User.model_validate(user)


@router.get("/api/users", operation_id="list_users", tags=["users"])
def list_users(auth: ManagementAuth, session: DbSession) -> schemas.UserList:
    users = service.list_users(session, auth.org_id)
    return schemas.UserList(data=[schemas.User.model_validate(u) for u in users])


@router.get("/api/users/{user_id}", operation_id="get_user", tags=["users"])
def get_user(user_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.User:
    return schemas.User.model_validate(service.get_user(session, auth.org_id, user_id))


@router.patch("/api/users/{user_id}", operation_id="update_user", tags=["users"])
def update_user(
    user_id: uuid.UUID, body: schemas.UserUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.User:
    auth.require_role("admin")
    user = service.update_user(
        session, auth.org_id, user_id, actor_role=auth.role, name=body.name, role=body.role
    )
    return schemas.User.model_validate(user)


@router.delete(
    "/api/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_user",
    tags=["users"],
)
def delete_user(user_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> None:
    auth.require_role("admin")
    service.delete_user(session, auth.org_id, user_id, actor_role=auth.role)


# --- API keys -----------------------------------------------------------------------------------


@router.post(
    "/api/api-keys",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_api_key",
    tags=["api keys"],
)
def create_api_key(
    body: schemas.ApiKeyCreate, auth: ManagementAuth, session: DbSession
) -> schemas.ApiKeyCreated:
    auth.require_role("admin")
    api_key, plaintext = service.create_api_key(
        session,
        auth.org_id,
        body.name,
        body.kind,
        created_by_user_id=auth.user.id if auth.user else None,
    )
    shown = schemas.ApiKey.model_validate(api_key).model_dump()
    return schemas.ApiKeyCreated(**shown, key=plaintext)


@router.get("/api/api-keys", operation_id="list_api_keys", tags=["api keys"])
def list_api_keys(auth: ManagementAuth, session: DbSession) -> schemas.ApiKeyList:
    keys = service.list_api_keys(session, auth.org_id)
    return schemas.ApiKeyList(data=[schemas.ApiKey.model_validate(k) for k in keys])


@router.get("/api/api-keys/{key_id}", operation_id="get_api_key", tags=["api keys"])
def get_api_key(key_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.ApiKey:
    return schemas.ApiKey.model_validate(service.get_api_key(session, auth.org_id, key_id))


@router.delete("/api/api-keys/{key_id}", operation_id="revoke_api_key", tags=["api keys"])
def revoke_api_key(key_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.ApiKey:
    auth.require_role("admin")
    return schemas.ApiKey.model_validate(service.revoke_api_key(session, auth.org_id, key_id))
