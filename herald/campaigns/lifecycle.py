"""Campaign status changes: scheduling (at a moment or at a local time), sending now, pausing,
resuming and cancelling, and the send gate that stops the messages of a campaign no longer
sending. Starting to send sets the campaign `sending` and adds the snapshot job
(`herald.campaigns.snapshot`). No HTTP here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.campaigns.fanout import _mirror_messages
from herald.campaigns.service import get_campaign
from herald.campaigns.snapshot import SNAPSHOT_JOB
from herald.campaigns.statuses import (
    CANCELLED,
    DRAFT,
    PAUSED,
    PENDING,
    RECIPIENT_CANCELLED,
    SCHEDULED,
    SENDING,
    SENT,
    WAITING,
)
from herald.db import utcnow
from herald.email.gates import SendVerdict, send_gate
from herald.errors import Conflict, FieldError, InvalidInput
from herald.jobs.service import create_job
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import Campaign, CampaignRecipient, Message

# The time zones in use run from UTC-12 to UTC+14: a local-time campaign starts when its time
# comes at UTC+14 and its last recipients get it 26 hours later.
EARLIEST_UTC_OFFSET = timedelta(hours=14)
LATEST_UTC_OFFSET = timedelta(hours=12)


def _illegal(campaign: Campaign, action: str) -> Conflict:
    return Conflict(f"cannot {action} a campaign that is {campaign.status}")


def _check_ready(session: Session, campaign: Campaign) -> None:
    problems = []
    if campaign.channel == "sms":
        if not campaign.sms_body:
            problems.append(FieldError("sms_body", "write the text before sending"))
    elif campaign.template_id is None:
        problems.append(FieldError("template_id", "choose a template before sending"))
    if not campaign.include_segment_ids:
        problems.append(FieldError("include_segment_ids", "choose at least one segment"))
    if problems:
        raise InvalidInput("the campaign is not ready to send", problems)


def schedule(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, at: datetime) -> Campaign:
    """Send at `at` (a draft only; a time already past starts it at the next minute)."""
    if at.tzinfo is None:
        raise InvalidInput.for_field("at", "needs a time zone (or Z for UTC)")
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status != DRAFT:
        raise _illegal(campaign, "schedule")
    _check_ready(session, campaign)
    campaign.status = SCHEDULED
    campaign.scheduled_at = at
    campaign.local_send_at = None
    campaign.local_grace_minutes = None
    session.flush()
    return campaign


def schedule_local(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    local_at: datetime,
    grace_minutes: int,
) -> Campaign:
    """Send at the wall-clock time `local_at` in each recipient's time zone. Sending starts when
    that time comes in the earliest time zone; the snapshot gives each recipient their moment."""
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status != DRAFT:
        raise _illegal(campaign, "schedule")
    _check_ready(session, campaign)
    if campaign.send_time_optimization:
        raise InvalidInput.for_field(
            "local_at",
            "send-time optimization picks each recipient's time: turn it off to send in local time",
        )
    local_at = local_at.replace(tzinfo=None, second=0, microsecond=0)
    now = utcnow()
    latest = local_at.replace(tzinfo=UTC) + LATEST_UTC_OFFSET + timedelta(minutes=grace_minutes)
    if latest < now:
        raise InvalidInput.for_field("local_at", "this time has passed in every time zone")
    campaign.status = SCHEDULED
    campaign.scheduled_at = max(local_at.replace(tzinfo=UTC) - EARLIEST_UTC_OFFSET, now)
    campaign.local_send_at = local_at
    campaign.local_grace_minutes = grace_minutes
    session.flush()
    return campaign


def unschedule(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Back to draft, to change it."""
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status != SCHEDULED:
        raise _illegal(campaign, "unschedule")
    campaign.status = DRAFT
    campaign.scheduled_at = None
    campaign.local_send_at = None
    campaign.local_grace_minutes = None
    session.flush()
    return campaign


def send_now(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status not in (DRAFT, SCHEDULED):
        raise _illegal(campaign, "send")
    _check_ready(session, campaign)
    # Now means now for everyone, whatever a schedule said.
    campaign.scheduled_at = None
    campaign.local_send_at = None
    campaign.local_grace_minutes = None
    start_sending(session, campaign)
    return campaign


def start_sending(session: Session, campaign: Campaign) -> None:
    """sending, and the snapshot job that fills in the audience (run once the caller commits)."""
    now = utcnow()
    campaign.status = SENDING
    campaign.started_at = now
    if campaign.scheduled_at is None:
        campaign.scheduled_at = now
    create_job(
        session,
        campaign.org_id,
        SNAPSHOT_JOB,
        {"campaign_id": str(campaign.id)},
        dedupe_key=f"campaign-snapshot:{campaign.id}",
    )
    session.flush()


def start_due_campaigns(session: Session, now: datetime | None = None) -> int:
    """Scheduled campaigns whose time has come start sending (the periodic task)."""
    now = now or utcnow()
    due = list(
        session.scalars(
            sa.select(Campaign)
            .where(Campaign.status == SCHEDULED, Campaign.scheduled_at <= now)
            .with_for_update(skip_locked=True)
            .limit(100)
        )
    )
    for campaign in due:
        start_sending(session, campaign)
    return len(due)


def pause(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """No new messages; queued ones are held back when a worker takes them."""
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status != SENDING:
        raise _illegal(campaign, "pause")
    campaign.status = PAUSED
    session.flush()
    return campaign


def resume(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Sending again: pending recipients get their messages, held messages are kicked now."""
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status != PAUSED:
        raise _illegal(campaign, "resume")
    campaign.status = SENDING
    # Held messages wait for a later look; each goes at its recipient's time again.
    session.execute(
        sa.update(Message)
        .where(
            Message.org_id == campaign.org_id,
            Message.source == "campaign",
            Message.source_id == campaign.id,
            Message.status == ledger.QUEUED,
            Message.attempts == 0,
        )
        .values(
            send_after=sa.select(CampaignRecipient.scheduled_for)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.message_id == Message.id,
            )
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    for message in session.scalars(
        sa.select(Message).where(
            Message.org_id == campaign.org_id,
            Message.source == "campaign",
            Message.source_id == campaign.id,
            Message.status == ledger.QUEUED,
        )
    ):
        messages.kick_send(session, message)
    session.flush()
    return campaign


def cancel(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Ends the campaign: recipients without a message and those whose message has not been taken
    by a worker are cancelled (the message skipped). A message a worker is sending right now
    still goes; its recipient takes its outcome."""
    campaign = get_campaign(session, org_id, campaign_id)
    # Locked: a pump's batch in hand finishes first, and the next one sees the cancellation.
    session.refresh(campaign, with_for_update=True)
    if campaign.status not in (DRAFT, SCHEDULED, SENDING, PAUSED):
        raise _illegal(campaign, "cancel")
    now = utcnow()
    campaign.status = CANCELLED
    campaign.finished_at = now
    session.execute(
        sa.update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status.in_((WAITING, PENDING)),
        )
        .values(status=RECIPIENT_CANCELLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    waiting = list(
        session.scalars(
            sa.select(Message)
            .where(
                Message.org_id == campaign.org_id,
                Message.source == "campaign",
                Message.source_id == campaign.id,
                Message.status == ledger.QUEUED,
            )
            .with_for_update()
        )
    )
    for message in waiting:
        ledger.set_status(session, message, ledger.SKIPPED, data={"reason": "campaign cancelled"})
    if waiting:
        session.execute(
            sa.update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.message_id.in_([m.id for m in waiting]),
            )
            .values(status=RECIPIENT_CANCELLED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    _mirror_messages(session, campaign.id)
    session.flush()
    return campaign


@send_gate("campaign")
def may_send(session: Session, message: Message) -> SendVerdict:
    """Asked by the email worker before it sends a campaign's message: "send", "hold" (the
    campaign is paused) or "skip" (it was cancelled or deleted)."""
    status = session.scalar(sa.select(Campaign.status).where(Campaign.id == message.source_id))
    if status in (SENDING, SENT):
        return "send"
    if status == PAUSED:
        return "hold"
    return "skip"
