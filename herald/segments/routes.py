"""HTTP handlers for segments (secret key or dashboard)."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from herald.errors import ErrorResponse
from herald.jobs.schemas import JobOut
from herald.models import Job, Segment
from herald.pagination import PageLimit
from herald.profiles import service as profiles
from herald.routing import JsonBodyRoute
from herald.segments import schemas, service
from herald.segments.definition import BUILTIN_FIELDS, builtin_type
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/segments", tags=["segments"], route_class=JsonBodyRoute)


def _active_recomputes(session: Session, org_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = session.execute(
        sa.select(Job.payload, Job.id).where(
            Job.org_id == org_id,
            Job.kind == service.RECOMPUTE_JOB,
            Job.status.in_(("pending", "running")),
        )
    )
    return {payload["segment_id"]: job_id for payload, job_id in rows}


def _out(segment: Segment, active: dict[str, uuid.UUID]) -> schemas.Segment:
    job_id = active.get(str(segment.id))
    return schemas.Segment(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        definition=service.parse_definition(segment.definition),
        member_count=segment.member_count,
        status="computing" if job_id is not None else "ready",
        recompute_job_id=job_id,
        computed_at=segment.computed_at,
        time_relative=segment.time_relative,
        metrics=segment.metrics,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _one(session: Session, segment: Segment) -> schemas.Segment:
    return _out(segment, _active_recomputes(session, segment.org_id))


@router.get("", operation_id="list_segments")
def list_segments(auth: ManagementAuth, session: DbSession) -> schemas.SegmentList:
    active = _active_recomputes(session, auth.org_id)
    return schemas.SegmentList(
        data=[_out(s, active) for s in service.list_segments(session, auth.org_id)]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_segment",
    responses={422: {"model": ErrorResponse}},
)
def create_segment(
    body: schemas.SegmentCreate, auth: ManagementAuth, session: DbSession
) -> schemas.Segment:
    """Save a segment and start computing its members (see `status`)."""
    segment = service.create_segment(
        session,
        auth.org_id,
        name=body.name,
        description=body.description,
        definition=body.definition.model_dump(mode="json"),
    )
    return _one(session, segment)


@router.post("/estimate", operation_id="estimate_segment")
def estimate_segment(
    body: schemas.EstimateRequest, auth: ManagementAuth, session: DbSession
) -> schemas.Estimate:
    """How many profiles a definition matches right now, without saving it."""
    count = service.estimate(session, auth.org_id, body.definition.model_dump(mode="json"))
    return schemas.Estimate(count=count)


@router.get("/catalog", operation_id="segment_catalog")
def segment_catalog(auth: ManagementAuth, session: DbSession) -> schemas.Catalog:
    """Fields, custom properties and event names to build definitions from."""
    fields = [
        schemas.CatalogField(name=name, type=builtin_type(name) or "string")
        for name in BUILTIN_FIELDS
    ]
    properties = [
        schemas.CatalogField(name=name, type=kind)
        for name, kind in service.profile_property_catalog(session, auth.org_id)
    ]
    return schemas.Catalog(
        fields=fields, properties=properties, metrics=service.metric_catalog(session, auth.org_id)
    )


@router.get("/catalog/event-properties", operation_id="segment_event_property_catalog")
def event_property_catalog(
    metric: Annotated[str, Query(min_length=1, max_length=255)],
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.EventPropertyCatalog:
    """Property names of the metric's recent events, with a suggested type."""
    return schemas.EventPropertyCatalog(
        properties=[
            schemas.CatalogField(name=name, type=kind)
            for name, kind in service.event_property_catalog(session, auth.org_id, metric)
        ]
    )


@router.get("/{segment_id}", operation_id="get_segment")
def get_segment(segment_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Segment:
    return _one(session, service.get_segment(session, auth.org_id, segment_id))


@router.patch("/{segment_id}", operation_id="update_segment")
def update_segment(
    segment_id: uuid.UUID, body: schemas.SegmentUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.Segment:
    changes = body.model_dump(mode="json", exclude_unset=True)
    segment = service.update_segment(session, auth.org_id, segment_id, changes)
    return _one(session, segment)


@router.delete(
    "/{segment_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_segment"
)
def delete_segment(segment_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> Response:
    service.delete_segment(session, auth.org_id, segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{segment_id}/recompute",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="recompute_segment",
)
def recompute_segment(segment_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> JobOut:
    """Recompute every member now, as a job (409 when one is already pending or running)."""
    segment = service.get_segment(session, auth.org_id, segment_id)
    job = service.request_recompute(session, segment)
    assert job is not None
    session.flush()
    return JobOut.model_validate(job)


@router.get("/{segment_id}/members", operation_id="list_segment_members")
def list_members(
    segment_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.MemberList:
    """Current members, newest profile first. For a CSV of them, use
    `GET /api/profiles/export?segment_id=...`."""
    segment = service.get_segment(session, auth.org_id, segment_id)
    rows, next_cursor = profiles.list_profiles(
        session,
        auth.org_id,
        profiles.ProfileFilter(segment_id=segment.id),
        limit=limit,
        cursor=cursor,
    )
    return schemas.MemberList(data=[profiles.to_schema(p) for p in rows], next_cursor=next_cursor)


@router.get("/{segment_id}/growth", operation_id="segment_growth")
def segment_growth(
    segment_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    days: Annotated[int, Query(ge=1, le=730)] = 30,
) -> schemas.Growth:
    """Members at the end of each UTC day, with that day's entries and exits."""
    series = service.growth(session, auth.org_id, segment_id, days)
    return schemas.Growth(
        data=[
            schemas.GrowthPoint(date=day, members=members, entered=entered, exited=exited)
            for day, members, entered, exited in series
        ]
    )


profile_router = APIRouter(tags=["segments"], route_class=JsonBodyRoute)


@profile_router.get("/api/profiles/{profile_id}/segments", operation_id="list_profile_segments")
def list_profile_segments(
    profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.ProfileSegments:
    """The segments this profile is in now."""
    profile = profiles.get_profile(session, auth.org_id, profile_id)
    return schemas.ProfileSegments(
        data=[
            schemas.ProfileSegment(id=segment.id, name=segment.name, entered_at=entered_at)
            for segment, entered_at in service.profile_segments(session, auth.org_id, profile.id)
        ]
    )
