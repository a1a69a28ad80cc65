"""HTTP handlers for flows (secret key or dashboard)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.errors import ErrorResponse
from herald.flows import library, preview, results, schemas, service, webhooks
from herald.flows.definition import stored
from herald.models import Flow, FlowEnrolment, FlowStepRun, Profile
from herald.pagination import PageLimit
from herald.profiles import service as profiles
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/flows", tags=["flows"], route_class=JsonBodyRoute)
templates_router = APIRouter(
    prefix="/api/flow-templates", tags=["flows"], route_class=JsonBodyRoute
)
profile_router = APIRouter(tags=["flows"], route_class=JsonBodyRoute)

Responses = dict[int | str, dict[str, Any]]
CONFLICT: Responses = {
    409: {"model": ErrorResponse, "description": "Not allowed in the flow's status."}
}
INVALID: Responses = {422: {"model": ErrorResponse}}
BOTH: Responses = {**CONFLICT, **INVALID}
FlowStatusFilter = Annotated[schemas.FlowStatus | None, Query()]
EnrolmentStatusFilter = Annotated[schemas.EnrolmentStatus | None, Query()]
StepFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Days = Annotated[int, Query(ge=1, le=365)]
SUMMARY_DAYS = 30


def _out(
    session: Session,
    flow: Flow,
    summary: schemas.FlowResultsSummary,
    published: dict[str, Any] | None,
) -> schemas.FlowSummary:
    draft = service.draft_of(flow)
    return schemas.FlowSummary(
        id=flow.id,
        name=flow.name,
        description=flow.description,
        status=flow.status,
        trigger_type=draft.trigger.type,
        trigger_label=service.trigger_label(session, flow.org_id, draft),
        version=flow.published_version,
        has_unpublished_changes=service.has_unpublished_changes(flow, published),
        live_at=flow.live_at,
        created_at=flow.created_at,
        updated_at=flow.updated_at,
        results_30d=summary,
    )


def _one(session: Session, flow: Flow) -> schemas.Flow:
    session.flush()
    session.refresh(flow)
    since = utcnow() - timedelta(days=SUMMARY_DAYS)
    summary = results.summaries(session, flow.org_id, [flow.id], since)[flow.id]
    published = service.published_definitions(session, [flow]).get(flow.id)
    return schemas.Flow(
        **_out(session, flow, summary, published).model_dump(),
        draft=service.draft_of(flow),
        published=None if published is None else stored(published),
        layout=flow.layout or {},
        paused_at=flow.paused_at,
        archived_at=flow.archived_at,
    )


# --- Settings (before /{flow_id}, which would take the name for an id) ---------------------------


@router.get("/webhook-settings", operation_id="get_flow_webhook_settings", responses=CONFLICT)
def get_webhook_settings(auth: ManagementAuth, session: DbSession) -> schemas.WebhookSettings:
    """The secret that signs webhook steps' requests (docs/flows.md shows how to verify).
    Owners only."""
    auth.require_role("owner")
    return schemas.WebhookSettings(signing_secret=webhooks.signing_secret(session, auth.org_id))


@router.post("/webhook-settings/rotate", operation_id="rotate_flow_webhook_secret")
def rotate_webhook_secret(auth: ManagementAuth, session: DbSession) -> schemas.WebhookSettings:
    """A new signing secret; requests are signed with it from now on. Owners only."""
    auth.require_role("owner")
    return schemas.WebhookSettings(
        signing_secret=webhooks.rotate_signing_secret(session, auth.org_id)
    )


# --- Flows ---------------------------------------------------------------------------------------


@router.get("", operation_id="list_flows")
def list_flows(
    auth: ManagementAuth, session: DbSession, status: FlowStatusFilter = None
) -> schemas.FlowList:
    """Newest first, with the last 30 days' figures. Archived flows only with `status=archived`."""
    flows = service.list_flows(session, auth.org_id, status)
    since = utcnow() - timedelta(days=SUMMARY_DAYS)
    summaries = results.summaries(session, auth.org_id, [f.id for f in flows], since)
    published = service.published_definitions(session, flows)
    return schemas.FlowList(
        data=[_out(session, f, summaries[f.id], published.get(f.id)) for f in flows]
    )


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_flow", responses=INVALID)
def create_flow(body: schemas.FlowCreate, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    """A draft; it runs once published."""
    flow = service.create_flow(
        session,
        auth.org_id,
        name=body.name,
        description=body.description,
        definition=body.definition,
    )
    return _one(session, flow)


@router.post(
    "/from-template",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_flow_from_template",
    responses=INVALID,
)
def create_flow_from_template(
    body: schemas.FlowFromTemplate, auth: ManagementAuth, session: DbSession
) -> schemas.Flow:
    """A draft copy of a flow template (GET /api/flow-templates): choose its email templates
    (and segment, if it has a segment trigger), then publish."""
    flow = service.create_from_template(session, auth.org_id, body.template, body.name)
    return _one(session, flow)


@router.get("/{flow_id}", operation_id="get_flow")
def get_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    return _one(session, service.get_flow(session, auth.org_id, flow_id))


@router.patch("/{flow_id}", operation_id="update_flow", responses=BOTH)
def update_flow(
    flow_id: uuid.UUID, body: schemas.FlowUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.Flow:
    """Change the draft (and the layout). A live flow runs its published version until the
    draft is published."""
    flow = service.update_flow(
        session,
        auth.org_id,
        flow_id,
        name=body.name,
        description=body.description,
        definition=body.definition,
        layout=body.layout,
        fields=body.model_fields_set,
    )
    return _one(session, flow)


@router.delete(
    "/{flow_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_flow",
)
def delete_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> Response:
    """A flow never published is deleted; any other is archived (its enrolments end, its
    history and results stay)."""
    service.delete_flow(session, auth.org_id, flow_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{flow_id}/publish", operation_id="publish_flow", responses=BOTH)
def publish_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    """Check the draft (its graph, that its email templates and segments are this
    organization's, that its webhook URLs may be called) and run it as a new version. A draft
    flow goes live; a paused one stays paused."""
    return _one(session, service.publish(session, auth.org_id, flow_id))


@router.post("/{flow_id}/pause", operation_id="pause_flow", responses=CONFLICT)
def pause_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    """Nobody enters and no step runs; enrolments wait where they are."""
    return _one(session, service.pause(session, auth.org_id, flow_id))


@router.post("/{flow_id}/resume", operation_id="resume_flow", responses=CONFLICT)
def resume_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    """Live again; steps that fell due while paused run in due order."""
    return _one(session, service.resume(session, auth.org_id, flow_id))


@router.post("/{flow_id}/archive", operation_id="archive_flow", responses=CONFLICT)
def archive_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    """Stop for good: every enrolment still in the flow exits."""
    return _one(session, service.archive(session, auth.org_id, flow_id))


@router.post(
    "/{flow_id}/duplicate", status_code=status.HTTP_201_CREATED, operation_id="duplicate_flow"
)
def duplicate_flow(flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Flow:
    """A new draft with the same draft definition and layout."""
    return _one(session, service.duplicate_flow(session, auth.org_id, flow_id))


@router.post("/{flow_id}/test", operation_id="test_flow", responses=INVALID)
def test_flow(
    flow_id: uuid.UUID, body: schemas.FlowTestRequest, auth: ManagementAuth, session: DbSession
) -> schemas.FlowTestResult:
    """The path a profile would take through the draft now, with the emails and webhook bodies
    rendered for them. Nothing is sent, stored or changed."""
    flow = service.get_flow(session, auth.org_id, flow_id)
    profile = profiles.get_profile(session, auth.org_id, body.profile_id)
    return preview.test_flow(session, flow, service.draft_of(flow), profile, body.payload)


@router.get("/{flow_id}/results", operation_id="flow_results")
def flow_results(
    flow_id: uuid.UUID, auth: ManagementAuth, session: DbSession, days: Days = 30
) -> schemas.FlowResults:
    """The flow's and each step's figures over the last `days` days. Opens and clicks leave out
    machine ones; conversions are credited last touch within 5 days of a human open or click,
    across campaigns and flows."""
    flow = service.get_flow(session, auth.org_id, flow_id)
    definition = service.published_of(session, flow) or service.draft_of(flow)
    return results.flow_results(session, flow, definition, utcnow() - timedelta(days=days))


# --- Enrolments ----------------------------------------------------------------------------------


def _profile_emails(session: Session, enrolments: list[FlowEnrolment]) -> dict[uuid.UUID, str]:
    ids = {e.profile_id for e in enrolments}
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Profile.id, Profile.email).where(Profile.id.in_(ids), Profile.email.is_not(None))
    )
    return {profile_id: email for profile_id, email in rows if email is not None}


def _enrolment_fields(
    enrolment: FlowEnrolment, flow_name: str, emails: dict[uuid.UUID, str]
) -> dict[str, Any]:
    return {
        "id": enrolment.id,
        "flow_id": enrolment.flow_id,
        "flow_name": flow_name,
        "profile_id": enrolment.profile_id,
        "profile_email": emails.get(enrolment.profile_id),
        "version": enrolment.version,
        "status": enrolment.status,
        "current_step_id": enrolment.current_step,
        "due_at": enrolment.due_at,
        "entered_at": enrolment.entered_at,
        "finished_at": enrolment.finished_at,
        "exit_reason": enrolment.exit_reason,
        "trigger": enrolment.trigger or {},
    }


def _history(runs: list[FlowStepRun]) -> list[schemas.StepRun]:
    return [schemas.StepRun.model_validate(run) for run in runs]


def _details(session: Session, enrolments: list[FlowEnrolment]) -> list[schemas.EnrolmentDetail]:
    names = service.flow_names(session, {e.flow_id for e in enrolments})
    emails = _profile_emails(session, enrolments)
    histories = service.histories(session, [e.id for e in enrolments])
    return [
        schemas.EnrolmentDetail(
            **_enrolment_fields(e, names.get(e.flow_id, ""), emails),
            history=_history(histories[e.id]),
        )
        for e in enrolments
    ]


@router.post("/{flow_id}/enrol", operation_id="enrol_in_flow", responses=BOTH)
def enrol(
    flow_id: uuid.UUID,
    body: schemas.EnrolRequest,
    auth: ManagementAuth,
    session: DbSession,
    response: Response,
) -> schemas.EnrolResult:
    """Enrol a profile in a live flow with an API trigger (the profile is found or created from
    the reference, as /api/track does). `payload` is what trigger splits and templates read as
    the event's properties. With `unique_id`, a retry enrols once."""
    result = service.enrol_by_api(session, auth.org_id, flow_id, body)
    if result.created:
        response.status_code = status.HTTP_201_CREATED
    return result


@router.get("/{flow_id}/enrolments", operation_id="list_flow_enrolments")
def list_enrolments(
    flow_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    status: EnrolmentStatusFilter = None,
    step_id: StepFilter = None,
    profile_id: uuid.UUID | None = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.EnrolmentList:
    """Newest first; `status=`, `step_id=` (the step they stand on) and `profile_id=` filter."""
    flow = service.get_flow(session, auth.org_id, flow_id)
    rows, next_cursor = service.list_enrolments(
        session,
        auth.org_id,
        flow.id,
        status=status,
        step_id=step_id,
        profile_id=profile_id,
        limit=limit,
        cursor=cursor,
    )
    emails = _profile_emails(session, rows)
    return schemas.EnrolmentList(
        data=[schemas.Enrolment(**_enrolment_fields(e, flow.name, emails)) for e in rows],
        next_cursor=next_cursor,
    )


@router.get("/{flow_id}/enrolments/{enrolment_id}", operation_id="get_flow_enrolment")
def get_enrolment(
    flow_id: uuid.UUID, enrolment_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.EnrolmentDetail:
    """One enrolment with the steps it took, their times and outcomes."""
    enrolment = service.get_enrolment(session, auth.org_id, flow_id, enrolment_id)
    return _details(session, [enrolment])[0]


@router.delete(
    "/{flow_id}/enrolments/{enrolment_id}",
    operation_id="remove_flow_enrolment",
    responses=CONFLICT,
)
def remove_enrolment(
    flow_id: uuid.UUID, enrolment_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.EnrolmentDetail:
    """Remove the profile from the flow: the enrolment exits ("removed") and takes no further
    step. One that already ended is left as it was."""
    enrolment = service.remove_enrolment(session, auth.org_id, flow_id, enrolment_id)
    return _details(session, [enrolment])[0]


@profile_router.get("/api/profiles/{profile_id}/flows", operation_id="list_profile_flows")
def list_profile_flows(
    profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.ProfileFlows:
    """The flows this profile is or was in (the running ones first), each with its path."""
    profile = profiles.get_profile(session, auth.org_id, profile_id)
    enrolments = service.profile_enrolments(session, auth.org_id, profile.id)
    return schemas.ProfileFlows(data=_details(session, enrolments))


# --- Templates -----------------------------------------------------------------------------------


@templates_router.get("", operation_id="list_flow_templates")
def list_flow_templates(auth: ManagementAuth) -> schemas.FlowTemplateList:
    """Ready-made flows to start from (POST /api/flows/from-template)."""
    return schemas.FlowTemplateList(
        data=[
            schemas.FlowTemplate(
                key=f.key, name=f.name, description=f.description, definition=f.definition
            )
            for f in library.library()
        ]
    )
