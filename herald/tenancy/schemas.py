"""Request and response models for organizations, users, sessions and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from herald.validation import Email, Name, RegionCode, TimeZoneName

Role = Literal["owner", "admin", "member"]
ApiKeyKind = Literal["public", "secret"]
Password = Annotated[str, StringConstraints(min_length=10, max_length=1024)]


class Organization(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    timezone: str
    default_region: str
    name_confirmed: bool = Field(
        description="False while the organization still has the placeholder name of a first "
        "start; the dashboard asks an owner for the real one (set by PATCH /api/organization)."
    )
    created_at: datetime


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    timezone: TimeZoneName | None = None
    default_region: RegionCode | None = None


class User(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    role: Role = "member"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    role: Role | None = None


class UserList(BaseModel):
    data: list[User]


class LoginRequest(BaseModel):
    email: Email
    password: Annotated[str, StringConstraints(max_length=1024)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, StringConstraints(max_length=1024)]
    new_password: Password


class ApiKey(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: ApiKeyKind
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: ApiKeyKind


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The full key. Shown only in this response; store it now.")


class ApiKeyList(BaseModel):
    data: list[ApiKey]


class Me(BaseModel):
    """Who is calling: a dashboard user (with the CSRF token to send back) or a secret key."""

    kind: Literal["user", "secret_key"]
    role: Role
    organization: Organization
    user: User | None = None
    api_key: ApiKey | None = None
    csrf_token: str | None = None
    links_base_url: str = Field(
        description="HERALD_BASE_URL: the address tracking, click and unsubscribe links point at. "
        "The dashboard warns when it is served from another address."
    )


class Session(BaseModel):
    user: User
    organization: Organization
    csrf_token: str
