"""HTTP handlers for campaigns (secret key or dashboard)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from herald.campaigns import lifecycle, preview, recipients, schemas, service, snapshot
from herald.errors import ErrorResponse
from herald.models import Campaign
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], route_class=JsonBodyRoute)

Responses = dict[int | str, dict[str, Any]]
CONFLICT: Responses = {
    409: {"model": ErrorResponse, "description": "Not allowed in the campaign's status."}
}
INVALID: Responses = {422: {"model": ErrorResponse}}
BOTH: Responses = {**CONFLICT, **INVALID}
RecipientStatus = Annotated[str | None, Query(pattern="^[a-z_]{1,16}$")]


def _out(campaign: Campaign, counts: dict[str, int]) -> schemas.Campaign:
    return schemas.Campaign(
        id=campaign.id,
        name=campaign.name,
        channel="sms" if campaign.channel == "sms" else "email",
        template_id=campaign.template_id,
        sms_body=campaign.sms_body,
        media_urls=list(campaign.media_urls or []),
        subject=campaign.subject,
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        include_segment_ids=[uuid.UUID(s) for s in campaign.include_segment_ids],
        exclude_segment_ids=[uuid.UUID(s) for s in campaign.exclude_segment_ids],
        smart_sending=campaign.smart_sending,
        smart_sending_hours=campaign.smart_sending_hours,
        ab_test=campaign.ab_test,
        ab_result=campaign.ab_result,
        ab_decide_at=campaign.ab_decide_at,
        send_time_optimization=campaign.send_time_optimization,
        conversion_metric=campaign.conversion_metric,
        status=campaign.status,
        scheduled_at=campaign.scheduled_at,
        local_send_at=campaign.local_send_at,
        local_grace_minutes=campaign.local_grace_minutes,
        started_at=campaign.started_at,
        audience_at=campaign.audience_at,
        finished_at=campaign.finished_at,
        counts=counts,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


def _one(session: Session, campaign: Campaign) -> schemas.Campaign:
    session.flush()
    session.refresh(campaign)
    return _out(campaign, recipients.recipient_counts(session, campaign.id))


@router.get("", operation_id="list_campaigns")
def list_campaigns(auth: ManagementAuth, session: DbSession) -> schemas.CampaignList:
    campaigns = service.list_campaigns(session, auth.org_id)
    counts = recipients.recipient_counts_for(session, [c.id for c in campaigns])
    return schemas.CampaignList(data=[_out(c, counts[c.id]) for c in campaigns])


@router.post(
    "", status_code=status.HTTP_201_CREATED, operation_id="create_campaign", responses=INVALID
)
def create_campaign(
    body: schemas.CampaignCreate, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """A draft; send it with /send or /schedule."""
    campaign = service.create_campaign(session, auth.org_id, body.model_dump())
    return _one(session, campaign)


@router.post("/audience", operation_id="campaign_audience", responses=INVALID)
def campaign_audience(
    body: schemas.AudienceRequest, auth: ManagementAuth, session: DbSession
) -> schemas.Audience:
    """How many people a campaign to these segments would reach if it started now, and why the
    others would be skipped (from the segments' current members)."""
    return schemas.Audience.model_validate(
        snapshot.audience_size(session, auth.org_id, body.model_dump())
    )


@router.get("/{campaign_id}", operation_id="get_campaign")
def get_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    return _one(session, service.get_campaign(session, auth.org_id, campaign_id))


@router.patch("/{campaign_id}", operation_id="update_campaign", responses=BOTH)
def update_campaign(
    campaign_id: uuid.UUID, body: schemas.CampaignUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """Only a draft can be changed (409 otherwise)."""
    changes = body.model_dump(exclude_unset=True)
    campaign = service.update_campaign(session, auth.org_id, campaign_id, changes)
    return _one(session, campaign)


@router.delete(
    "/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_campaign",
    responses=CONFLICT,
)
def delete_campaign(campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> Response:
    """A sending or paused campaign must be cancelled first."""
    service.delete_campaign(session, auth.org_id, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{campaign_id}/schedule",
    operation_id="schedule_campaign",
    responses=BOTH,
)
def schedule_campaign(
    campaign_id: uuid.UUID,
    body: schemas.ScheduleRequest,
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.Campaign:
    """Start sending a draft at a time, or at a wall-clock time in each recipient's time zone
    (checked every minute)."""
    if body.local_at is not None:
        campaign = lifecycle.schedule_local(
            session, auth.org_id, campaign_id, body.local_at, body.grace_minutes
        )
    else:
        assert body.at is not None
        campaign = lifecycle.schedule(session, auth.org_id, campaign_id, body.at)
    return _one(session, campaign)


@router.post("/{campaign_id}/unschedule", operation_id="unschedule_campaign", responses=CONFLICT)
def unschedule_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """A scheduled campaign back to draft."""
    return _one(session, lifecycle.unschedule(session, auth.org_id, campaign_id))


@router.post(
    "/{campaign_id}/send",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="send_campaign",
    responses=BOTH,
)
def send_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """Start sending now: the audience is snapshotted, then the messages go out in batches."""
    return _one(session, lifecycle.send_now(session, auth.org_id, campaign_id))


@router.post("/{campaign_id}/pause", operation_id="pause_campaign", responses=CONFLICT)
def pause_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """No new messages go out until it is resumed."""
    return _one(session, lifecycle.pause(session, auth.org_id, campaign_id))


@router.post("/{campaign_id}/resume", operation_id="resume_campaign", responses=CONFLICT)
def resume_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """Continue with the recipients not sent yet."""
    return _one(session, lifecycle.resume(session, auth.org_id, campaign_id))


@router.post("/{campaign_id}/cancel", operation_id="cancel_campaign", responses=CONFLICT)
def cancel_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """End it: recipients not sent yet are cancelled."""
    return _one(session, lifecycle.cancel(session, auth.org_id, campaign_id))


@router.post(
    "/{campaign_id}/duplicate",
    status_code=status.HTTP_201_CREATED,
    operation_id="duplicate_campaign",
)
def duplicate_campaign(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Campaign:
    """A new draft with the same content and audience."""
    return _one(session, service.duplicate_campaign(session, auth.org_id, campaign_id))


@router.post("/{campaign_id}/preview", operation_id="preview_campaign", responses=INVALID)
def preview_campaign(
    campaign_id: uuid.UUID,
    body: schemas.PreviewRequest,
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.CampaignPreview:
    """The campaign's email as one profile would get it (tracking links aside)."""
    rendered = preview.preview(
        session,
        auth.org_id,
        campaign_id,
        body.profile_id,
        body.variant,
        sample=body.sample.model_dump() if body.sample is not None else None,
    )
    return schemas.CampaignPreview(
        subject=rendered.subject,
        preheader=rendered.preheader,
        html=rendered.html,
        text=rendered.text,
    )


@router.post(
    "/{campaign_id}/test-send",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="test_send_campaign",
    responses=INVALID,
)
def test_send_campaign(
    campaign_id: uuid.UUID,
    body: schemas.TestSendRequest,
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.TestSendResult:
    """Send the campaign's email to one address now. Not a recipient, not in the stats."""
    message = preview.test_send(session, auth.org_id, campaign_id, body.email, body.variant)
    session.flush()
    return schemas.TestSendResult(message_id=message.id)


@router.get("/{campaign_id}/recipients", operation_id="list_campaign_recipients")
def list_recipients(
    campaign_id: uuid.UUID,
    auth: ManagementAuth,
    session: DbSession,
    status: RecipientStatus = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.RecipientList:
    """In snapshot order, with their status (`status=` filters) and whether each person opened,
    clicked or unsubscribed."""
    rows, next_cursor = recipients.list_recipients(
        session, auth.org_id, campaign_id, status=status, limit=limit, cursor=cursor
    )
    engaged = recipients.engagement(
        session, auth.org_id, [r.message_id for r in rows if r.message_id is not None]
    )
    return schemas.RecipientList(
        data=[
            schemas.Recipient.model_validate(r).model_copy(
                update=engaged.get(r.message_id, {}) if r.message_id is not None else {}
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


@router.get("/{campaign_id}/stats", operation_id="campaign_stats")
def campaign_stats(
    campaign_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.CampaignStats:
    """Overall and per A/B variant. Opens and clicks leave out machine ones; conversions are
    attributed last touch within 5 days of a human open or click."""
    return schemas.CampaignStats.model_validate(recipients.stats(session, auth.org_id, campaign_id))
