"""HTTP handlers for profiles: management (secret key or dashboard) and identify (public key)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from herald.db import get_database, utcnow
from herald.errors import InvalidInput, validation_fields
from herald.models import Segment
from herald.pagination import PageLimit
from herald.profiles import export, schemas, service
from herald.routing import JsonBodyRoute
from herald.segments.definition import (
    BUILTIN_FIELDS,
    RELATIVE_DATE_OPERATORS,
    Operator,
    ProfileCondition,
    ValueType,
    builtin_type,
)
from herald.tenancy.auth import ManagementAuth, Principal, PublicAuth
from herald.tenancy.deps import DbSession
from herald.tenancy.scope import get_scoped
from herald.validation import normalize_email, unstorable_reason

router = APIRouter(tags=["profiles"], route_class=JsonBodyRoute)


def profile_filter(
    session: DbSession,
    auth: ManagementAuth,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    property_name: Annotated[str | None, Query(description="Custom property to compare")] = None,
    property_value: Annotated[str | None, Query(description="Its value, compared as text")] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    q: Annotated[str | None, Query(description="Search email, phone, external id and name")] = None,
    segment_id: Annotated[
        uuid.UUID | None, Query(description="Only the current members of this segment")
    ] = None,
    field: Annotated[
        str | None, Query(description="A built-in field to compare (`city`, `country`, ...)")
    ] = None,
    property: Annotated[
        str | None, Query(description="A custom property to compare (instead of `field`)")
    ] = None,
    op: Annotated[
        Operator,
        Query(description="How `field` or `property` compares, as in segment conditions"),
    ] = "equals",
    value: Annotated[
        str | None,
        Query(
            description="The operand, as text (a number for number comparisons, a comma-"
            "separated list for `in`/`not_in`, the amount of days for relative dates)"
        ),
    ] = None,
    value_to: Annotated[str | None, Query(description="The upper bound of `between`")] = None,
    value_type: Annotated[
        ValueType | None, Query(description="How a custom property compares")
    ] = None,
) -> service.ProfileFilter:
    storable_text(
        q=q,
        property_name=property_name,
        property_value=property_value,
        external_id=external_id,
        property=property,
        value=value,
        value_to=value_to,
    )
    if segment_id is not None:
        get_scoped(session, Segment, auth.org_id, segment_id)
    if (property_name is None) != (property_value is None):
        raise InvalidInput.for_field(
            "property_value", "give property_name and property_value together"
        )
    if email is not None:
        try:
            email = normalize_email(email)
        except ValueError as exc:
            raise InvalidInput.for_field("email", str(exc)) from exc
    if phone is not None:
        phone = service.phone_for(session, auth.org_id, phone)
    for name, bound in (("created_after", created_after), ("created_before", created_before)):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInput.for_field(name, "needs a time zone, for example Z")
    condition = None
    if field is not None or property is not None:
        condition = property_condition(field, property, op, value, value_to, value_type)
    return service.ProfileFilter(
        condition=condition,
        email=email,
        phone=phone,
        external_id=external_id,
        property_name=property_name,
        property_value=property_value,
        created_after=created_after,
        created_before=created_before,
        search=q,
        segment_id=segment_id,
    )


def storable_text(**texts: str | None) -> None:
    """Refuse query text a database cannot compare with (NUL, a lone surrogate) as a 422 naming
    the parameter, rather than the database's error."""
    for name, text in texts.items():
        if text is not None and (reason := unstorable_reason(text)) is not None:
            raise InvalidInput.for_field(name, reason)


def _operand(text: str, kind: ValueType, name: str) -> Any:
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise InvalidInput.for_field(name, "must be a number") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise InvalidInput.for_field(name, "must be true or false")
        return text.lower() == "true"
    return text


def property_condition(
    field: str | None,
    property_name: str | None,
    op: str,
    value: str | None,
    value_to: str | None,
    value_type: ValueType | None,
) -> ProfileCondition:
    """The list's field/property filter as a segment's profile condition, its text operands
    typed the way the condition compares."""
    if field is not None and property_name is not None:
        raise InvalidInput.for_field("property", "give `field` or `property`, not both")
    if field is not None and field not in BUILTIN_FIELDS:
        raise InvalidInput.for_field("field", f"unknown field; built-in fields: {BUILTIN_FIELDS}")
    kind: ValueType = builtin_type(field) or value_type or "string"
    raw: dict[str, Any] = {"type": "profile", "operator": op}
    if field is not None:
        raw["field"] = field
    else:
        raw["property"] = property_name
        raw["value_type"] = kind
    if op in RELATIVE_DATE_OPERATORS:
        if value is not None:
            raw["amount"] = _operand(value, "number", "value")
    elif op in ("in", "not_in"):
        items = [item.strip() for item in (value or "").split(",") if item.strip()]
        raw["values"] = [_operand(item, kind, "value") for item in items]
    elif value is not None:
        raw["value"] = _operand(value, kind, "value")
    if value_to is not None:
        raw["value_to"] = _operand(value_to, kind, "value_to")
    try:
        return ProfileCondition.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(f.reason for f in validation_fields(exc.errors()))
        name = "property" if property_name is not None and not property_name else "value"
        raise InvalidInput.for_field(name, reasons) from exc


def request_evidence(request: Request, auth: Principal) -> service.RequestEvidence:
    """Who records consent through this request; a browser's own address and agent (public
    key, or the dashboard's user acting) only where the person is the one at the browser."""
    if auth.kind == "public_key":
        return service.RequestEvidence(
            source="sdk",
            ip_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            default_method="form",
        )
    if auth.kind == "user":
        return service.RequestEvidence(source="dashboard", default_method="dashboard")
    return service.RequestEvidence(source="api", default_method="api")


@router.post("/api/profiles", status_code=status.HTTP_201_CREATED, operation_id="create_profile")
def create_profile(
    body: schemas.ProfileCreate, auth: ManagementAuth, session: DbSession, request: Request
) -> schemas.Profile:
    evidence = request_evidence(request, auth)
    return service.to_schema(service.create_profile(session, auth.org_id, body, evidence))


@router.get("/api/profiles", operation_id="list_profiles")
def list_profiles(
    auth: ManagementAuth,
    session: DbSession,
    where: Annotated[service.ProfileFilter, Depends(profile_filter)],
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.ProfileList:
    rows, next_cursor = service.list_profiles(
        session, auth.org_id, where, limit=limit, cursor=cursor
    )
    return schemas.ProfileList(data=[service.to_schema(p) for p in rows], next_cursor=next_cursor)


@router.get("/api/profiles/count", operation_id="count_profiles")
def count_profiles(
    auth: ManagementAuth,
    session: DbSession,
    where: Annotated[service.ProfileFilter, Depends(profile_filter)],
) -> schemas.ProfileCount:
    """How many profiles the list's filters match: exact up to 10,000, else `exact` is false
    and `count` is 10,000 ("more than 10,000")."""
    count, exact = service.count_profiles(session, auth.org_id, where)
    return schemas.ProfileCount(count=count, exact=exact)


@router.get("/api/profiles/property-values", operation_id="list_profile_property_values")
def list_profile_property_values(
    auth: ManagementAuth,
    session: DbSession,
    field: Annotated[str | None, Query(description="A built-in text field, e.g. `city`")] = None,
    property: Annotated[
        str | None, Query(max_length=255, description="A custom property (instead of `field`)")
    ] = None,
    prefix: Annotated[str, Query(max_length=255, description="Values starting so")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> schemas.PropertyValues:
    """Values of a field or property to suggest while writing a condition: the most common
    ones among the organization's 5,000 newest profiles, starting with `prefix` (any case)."""
    storable_text(property=property, prefix=prefix)
    if (field is None) == (property is None):
        raise InvalidInput.for_field("field", "give `field` or `property`")
    if field is not None and field not in BUILTIN_FIELDS:
        raise InvalidInput.for_field("field", f"unknown field; built-in fields: {BUILTIN_FIELDS}")
    if property is not None and not property.strip():
        raise InvalidInput.for_field("property", "must not be empty")
    rows = service.property_values(
        session, auth.org_id, field=field, property_name=property, prefix=prefix, limit=limit
    )
    return schemas.PropertyValues(
        data=[schemas.PropertyValue(value=value, count=count) for value, count in rows]
    )


@router.get(
    "/api/profiles/export",
    operation_id="export_profiles_csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, one profile a row"}},
)
def export_profiles_csv(
    auth: ManagementAuth, where: Annotated[service.ProfileFilter, Depends(profile_filter)]
) -> StreamingResponse:
    """Every profile matching the filters (all when none), as CSV, streamed."""
    org_id = auth.org_id

    def rows() -> Iterator[bytes]:
        # The request's session is closed once the handler returns; the stream reads on its own.
        with get_database().transaction() as session:
            yield from export.csv_lines(service.iterate_profiles(session, org_id, where))

    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="profiles-{stamp}.csv"'},
    )


@router.get("/api/profiles/{profile_id}", operation_id="get_profile")
def get_profile(profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Profile:
    """A merged profile's old id answers with the profile it was merged into."""
    return service.to_schema(service.get_profile(session, auth.org_id, profile_id))


@router.patch("/api/profiles/{profile_id}", operation_id="update_profile")
def update_profile(
    profile_id: uuid.UUID,
    body: schemas.ProfileUpdate,
    auth: ManagementAuth,
    session: DbSession,
    request: Request,
) -> schemas.Profile:
    evidence = request_evidence(request, auth)
    return service.to_schema(
        service.update_profile(session, auth.org_id, profile_id, body, evidence)
    )


@router.get("/api/profiles/{profile_id}/consent", operation_id="get_profile_consent")
def get_profile_consent(
    profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.ProfileConsent:
    """The current consent on each channel, whether marketing may be sent there, and the
    history with its evidence."""
    profile = service.get_profile(session, auth.org_id, profile_id)
    return service.consent_summary(session, profile)


@router.post(
    "/api/profiles/{profile_id}/consent",
    status_code=status.HTTP_201_CREATED,
    operation_id="record_profile_consent",
)
def record_profile_consent(
    profile_id: uuid.UUID,
    body: schemas.ConsentCreate,
    auth: ManagementAuth,
    session: DbSession,
    request: Request,
) -> schemas.ProfileConsent:
    """Record consent given or withdrawn on a channel (added to the history; the current
    status follows the latest record)."""
    profile = service.get_profile(session, auth.org_id, profile_id)
    service.record_change_of_consent(
        session, profile, body.channel, body, request_evidence(request, auth)
    )
    return service.consent_summary(session, profile)


@router.delete(
    "/api/profiles/{profile_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_profile",
)
def delete_profile(profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> None:
    """Erase the person: profile, events and anonymous ids. This cannot be undone."""
    auth.require_role("admin")
    service.erase_profile(session, auth.org_id, profile_id)


@router.get("/api/profiles/{profile_id}/timeline", operation_id="get_profile_timeline")
def get_profile_timeline(
    profile_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.Timeline:
    items, next_cursor = service.timeline(
        session, auth.org_id, profile_id, limit=limit, cursor=cursor
    )
    entries = [
        schemas.TimelineEntry(
            kind=item.kind,
            id=item.id,
            time=item.time,
            name=item.name,
            properties=item.properties,
            value=item.value,
            engagement=(
                None
                if item.engagement is None
                else schemas.MessageEngagement.model_validate(item.engagement)
            ),
        )
        for item in items
    ]
    return schemas.Timeline(data=entries, next_cursor=next_cursor)


@router.get("/api/profiles/{profile_id}/export", operation_id="export_profile_data")
def export_profile_data(
    profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> dict[str, Any]:
    """Everything stored about this person, as JSON (for access requests)."""
    return service.export_person(session, auth.org_id, profile_id)


@router.post("/api/identify", operation_id="identify")
def identify(
    body: schemas.IdentifyRequest, auth: PublicAuth, session: DbSession, request: Request
) -> schemas.IdentifyResult:
    """Create or update the profile these identifiers name (public or secret key). Consent
    sent with a public key records the browser's IP address and user agent as evidence."""
    resolution = service.identify(session, auth.org_id, body, request_evidence(request, auth))
    return schemas.IdentifyResult(
        profile_id=resolution.profile.id,
        created=resolution.created,
        merged_profile_ids=resolution.merged_ids,
    )
