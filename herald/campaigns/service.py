"""Campaigns: saving them, their status changes, the audience snapshot, the fan-out into the
message ledger, completion and stats. No HTTP here.

How a campaign survives crashes (DESIGN invariant 3):

- Starting to send sets the campaign `sending` and adds a snapshot job. The job inserts the
  audience as recipient rows with INSERT ... SELECT, a chunk of profiles per transaction with its
  checkpoint; the unique (campaign, profile) key makes a re-run after a crash add only what is
  missing. `audience_at` is set when the last chunk commits.
- The pump (every worker process, every second) takes a batch of pending recipients of each
  sending campaign, records their messages with `queue_email` under the key
  `campaign:<campaign>:<profile>` and marks them queued with the message id, in one transaction;
  the send kicks go out after the commit. A crash before the commit leaves the recipients pending
  and no message; a crash after it leaves queued messages that the email sweep kicks again. The
  key is unique, so a recipient can never get two messages; the ledger's claim sends each message
  once.
- A queued recipient takes its message's status once that is final. The campaign is `sent` only
  when the snapshot has finished and no recipient is pending or queued.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, UTCDateTime, utcnow
from herald.email.service import SendVerdict, send_gate
from herald.errors import Conflict, FieldError, InvalidInput, NotFound
from herald.jobs.service import JobRun, create_job, job_handler
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import (
    Campaign,
    CampaignRecipient,
    Consent,
    EmailTemplate,
    Message,
    MessageEvent,
    Profile,
    Segment,
    SegmentMember,
    Suppression,
)
from herald.pagination import decode_cursor, encode_cursor
from herald.templates import service as templates
from herald.templates.rendering import RenderedEmail, TemplateParts, parts_of
from herald.tenancy.scope import get_scoped, scoped

logger = logging.getLogger(__name__)

# Campaign statuses.
DRAFT, SCHEDULED, SENDING, SENT = "draft", "scheduled", "sending", "sent"
PAUSED, CANCELLED = "paused", "cancelled"
STATUSES = (DRAFT, SCHEDULED, SENDING, SENT, PAUSED, CANCELLED)
# Recipient statuses: pending (no message yet), queued (its message exists and is not final),
# then the message's final status (sent, delivered, bounced, complained, failed, suppressed,
# skipped); skipped at the snapshot with a `skip_reason`; cancelled.
PENDING, QUEUED = "pending", "queued"
SKIPPED, RECIPIENT_CANCELLED = "skipped", "cancelled"
OPEN_RECIPIENT_STATUSES = (PENDING, QUEUED)
# Why the snapshot left a profile out.
NO_EMAIL, SUPPRESSED, NO_CONSENT, SMART_SENDING = (
    "no_email",
    "suppressed",
    "no_consent",
    "smart_sending",
)

SNAPSHOT_JOB = "campaign.snapshot"
# Candidate profiles per snapshot transaction.
SNAPSHOT_CHUNK = 10_000
# Recipients given their message per pump transaction.
PUMP_BATCH = 500
MAX_SMART_SENDING_HOURS = 24 * 7
NAME_TAKEN = "another campaign has this name"


# --- Reading and saving ---------------------------------------------------------------------------


def get_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return get_scoped(session, Campaign, org_id, campaign_id)


def list_campaigns(session: Session, org_id: uuid.UUID) -> list[Campaign]:
    return list(
        session.scalars(
            scoped(Campaign, org_id).order_by(Campaign.created_at.desc(), Campaign.id.desc())
        )
    )


def _check_name(session: Session, org_id: uuid.UUID, name: str, own_id: uuid.UUID | None) -> None:
    query = sa.select(Campaign.id).where(Campaign.org_id == org_id, Campaign.name == name)
    if own_id is not None:
        query = query.where(Campaign.id != own_id)
    if session.scalar(query) is not None:
        raise InvalidInput.for_field("name", NAME_TAKEN)


def _check_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID | None) -> None:
    if template_id is None:
        return
    try:
        get_scoped(session, EmailTemplate, org_id, template_id)
    except NotFound as exc:  # another organization's template is as unknown as none
        raise InvalidInput.for_field("template_id", "no such template") from exc


def _check_segments(
    session: Session, org_id: uuid.UUID, field: str, segment_ids: Sequence[uuid.UUID]
) -> list[str]:
    wanted = list(dict.fromkeys(segment_ids))
    if not wanted:
        return []
    found = set(
        session.scalars(
            sa.select(Segment.id).where(Segment.org_id == org_id, Segment.id.in_(wanted))
        )
    )
    unknown = [str(s) for s in wanted if s not in found]
    if unknown:
        raise InvalidInput(
            f"{field}: no such segment",
            [FieldError(field, f"no such segment: {', '.join(unknown)}")],
        )
    return [str(s) for s in wanted]


def _require_draft(campaign: Campaign) -> None:
    if campaign.status != DRAFT:
        raise Conflict(
            f"this campaign is {campaign.status}: only a draft can be changed "
            "(duplicate it to make a new draft)"
        )


def _apply(session: Session, campaign: Campaign, fields: dict[str, Any]) -> None:
    org_id = campaign.org_id
    if "name" in fields:
        if not fields["name"]:
            raise InvalidInput.for_field("name", "must not be empty")
        _check_name(session, org_id, fields["name"], campaign.id)
        campaign.name = fields["name"]
    if "template_id" in fields:
        _check_template(session, org_id, fields["template_id"])
        campaign.template_id = fields["template_id"]
    for name in ("subject", "from_name", "from_email", "smart_sending", "smart_sending_hours"):
        if name in fields:
            setattr(campaign, name, fields[name])
    if "include_segment_ids" in fields:
        campaign.include_segment_ids = _check_segments(
            session, org_id, "include_segment_ids", fields["include_segment_ids"] or []
        )
    if "exclude_segment_ids" in fields:
        campaign.exclude_segment_ids = _check_segments(
            session, org_id, "exclude_segment_ids", fields["exclude_segment_ids"] or []
        )


def create_campaign(session: Session, org_id: uuid.UUID, fields: dict[str, Any]) -> Campaign:
    campaign = Campaign(
        org_id=org_id,
        name="",
        channel="email",
        status=DRAFT,
        include_segment_ids=[],
        exclude_segment_ids=[],
        smart_sending=True,
        smart_sending_hours=16,
    )
    _apply(session, campaign, fields)
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, changes: dict[str, Any]
) -> Campaign:
    campaign = get_campaign(session, org_id, campaign_id)
    _require_draft(campaign)
    _apply(session, campaign, changes)
    session.flush()
    return campaign


def delete_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status in (SENDING, PAUSED):
        raise Conflict(f"this campaign is {campaign.status}: cancel it before deleting it")
    session.delete(campaign)
    session.flush()


def _copy_name(session: Session, org_id: uuid.UUID, name: str) -> str:
    base = f"{name} (copy)"[:255]
    taken = set(
        session.scalars(
            sa.select(Campaign.name).where(
                Campaign.org_id == org_id, Campaign.name.startswith(base[:240], autoescape=True)
            )
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base[:240]} {number}" in taken:
        number += 1
    return f"{base[:240]} {number}"


def duplicate_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """A new draft with the same content, audience and settings (any status may be copied)."""
    source = get_campaign(session, org_id, campaign_id)
    copy = Campaign(
        org_id=org_id,
        name=_copy_name(session, org_id, source.name),
        channel=source.channel,
        template_id=source.template_id,
        subject=source.subject,
        from_name=source.from_name,
        from_email=source.from_email,
        include_segment_ids=list(source.include_segment_ids),
        exclude_segment_ids=list(source.exclude_segment_ids),
        smart_sending=source.smart_sending,
        smart_sending_hours=source.smart_sending_hours,
        ab_test=source.ab_test,
        send_time_optimization=source.send_time_optimization,
        status=DRAFT,
    )
    session.add(copy)
    session.flush()
    return copy


# --- Status changes -------------------------------------------------------------------------------


def _illegal(campaign: Campaign, action: str) -> Conflict:
    return Conflict(f"cannot {action} a campaign that is {campaign.status}")


def _check_ready(session: Session, campaign: Campaign) -> None:
    problems = []
    if campaign.template_id is None:
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
    session.flush()
    return campaign


def unschedule(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Back to draft, to change it."""
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status != SCHEDULED:
        raise _illegal(campaign, "unschedule")
    campaign.status = DRAFT
    campaign.scheduled_at = None
    session.flush()
    return campaign


def send_now(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status not in (DRAFT, SCHEDULED):
        raise _illegal(campaign, "send")
    _check_ready(session, campaign)
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
        .where(CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status == PENDING)
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


# --- The audience snapshot ------------------------------------------------------------------------


def _audience(campaign: Campaign) -> sa.ColumnElement[bool]:
    """Live profiles of the organization in any included segment and in no excluded one."""
    condition = sa.and_(
        Profile.org_id == campaign.org_id,
        Profile.merged_into_id.is_(None),
        sa.exists().where(
            SegmentMember.segment_id.in_([uuid.UUID(s) for s in campaign.include_segment_ids]),
            SegmentMember.profile_id == Profile.id,
        ),
    )
    if campaign.exclude_segment_ids:
        condition = sa.and_(
            condition,
            ~sa.exists().where(
                SegmentMember.segment_id.in_([uuid.UUID(s) for s in campaign.exclude_segment_ids]),
                SegmentMember.profile_id == Profile.id,
            ),
        )
    return condition


def _skip_reason(campaign: Campaign, now: datetime) -> sa.ColumnElement[Any]:
    """Why a candidate is left out, or NULL: the first that applies, in this order."""
    suppressed = sa.exists().where(
        Suppression.org_id == campaign.org_id,
        Suppression.channel == "email",
        Suppression.address == Profile.email,
    )
    withdrew = sa.exists().where(
        Consent.org_id == campaign.org_id,
        Consent.profile_id == Profile.id,
        Consent.channel == "email",
        Consent.granted.is_(False),
    )
    whens: list[tuple[sa.ColumnElement[bool], str]] = [
        (Profile.email.is_(None), NO_EMAIL),
        (suppressed, SUPPRESSED),
        (withdrew, NO_CONSENT),
    ]
    if campaign.smart_sending:
        since = now - timedelta(hours=campaign.smart_sending_hours)
        recently = sa.exists().where(
            Message.org_id == campaign.org_id,
            Message.profile_id == Profile.id,
            Message.channel == "email",
            Message.marketing.is_(True),
            sa.or_(Message.source_id.is_(None), Message.source_id != campaign.id),
            Message.status.notin_((ledger.FAILED, ledger.SUPPRESSED, ledger.SKIPPED)),
            sa.func.coalesce(Message.sent_at, Message.created_at) >= since,
        )
        whens.append((recently, SMART_SENDING))
    return sa.case(*whens, else_=sa.null())


def snapshot_chunk(
    session: Session,
    campaign: Campaign,
    after: uuid.UUID | None,
    upto: uuid.UUID | None,
    now: datetime,
) -> int:
    """Insert the recipients among candidates with `after < id <= upto` (open ends when None)
    that are not recipients yet; returns how many rows were added."""
    condition = _audience(campaign)
    if after is not None:
        condition = sa.and_(condition, Profile.id > after)
    if upto is not None:
        condition = sa.and_(condition, Profile.id <= upto)
    condition = sa.and_(
        condition,
        ~sa.exists().where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.profile_id == Profile.id,
        ),
    )
    reason = _skip_reason(campaign, now)
    stamp = sa.literal(now, UTCDateTime())
    select = sa.select(
        sa.literal(campaign.id, sa.Uuid()),
        Profile.org_id,
        Profile.id,
        Profile.email,
        # Extension points: A/B tests set `variant`, send-time features `scheduled_for`.
        sa.null(),
        sa.null(),
        sa.case((reason.is_(None), PENDING), else_=SKIPPED),
        reason,
        stamp,
        stamp,
    ).where(condition)
    result = session.execute(
        sa.insert(CampaignRecipient).from_select(
            [
                "campaign_id",
                "org_id",
                "profile_id",
                "email",
                "variant",
                "scheduled_for",
                "status",
                "skip_reason",
                "created_at",
                "updated_at",
            ],
            select,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _chunk_end(session: Session, campaign: Campaign, after: uuid.UUID | None) -> uuid.UUID | None:
    """The id that ends the next chunk of candidates, or None when the rest fits in one."""
    query = sa.select(Profile.id).where(_audience(campaign))
    if after is not None:
        query = query.where(Profile.id > after)
    return session.scalar(query.order_by(Profile.id).offset(SNAPSHOT_CHUNK - 1).limit(1))


@job_handler(SNAPSHOT_JOB)
def _run_snapshot(run: JobRun) -> dict[str, Any]:
    campaign_id = uuid.UUID(run.payload["campaign_id"])
    with run.database.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return {"campaign": "deleted"}
        total = session.scalar(
            sa.select(sa.func.count()).select_from(Profile).where(_audience(campaign))
        )
        run.save_progress(session, done=run.progress_done, total=int(total or 0))
    while True:
        with run.database.transaction() as session:
            campaign = session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None:
                return {"campaign": "deleted"}
            if campaign.audience_at is not None:
                return {"recipients": run.progress_done}
            if campaign.status == CANCELLED:  # cancel() cancelled what was already inserted
                return {"recipients": run.progress_done, "cancelled": True}
            checkpoint = run.checkpoint or {}
            after = uuid.UUID(checkpoint["after"]) if checkpoint.get("after") else None
            upto = _chunk_end(session, campaign, after)
            now = utcnow()
            added = snapshot_chunk(session, campaign, after, upto, now)
            if upto is None:
                campaign.audience_at = now
                run.save_progress(session, done=run.progress_done + added)
                return {"recipients": run.progress_done}
            run.save_progress(
                session, done=run.progress_done + added, checkpoint={"after": str(upto)}
            )


# --- Fan-out and completion -----------------------------------------------------------------------


def _content_overrides(campaign: Campaign) -> dict[str, str]:
    """The campaign's subject and sender, which the email worker uses instead of the
    template's."""
    overrides = {
        "subject": campaign.subject,
        "from_name": campaign.from_name,
        "from_email": campaign.from_email,
    }
    return {k: v for k, v in overrides.items() if v}


def _queue_for(
    session: Session,
    campaign: Campaign,
    *,
    idempotency_key: str,
    source: str,
    to_profile_id: uuid.UUID | None = None,
    to_address: str | None = None,
    send_after: datetime | None = None,
) -> Message:
    message = messages.queue_email(
        session,
        campaign.org_id,
        source=source,
        source_id=campaign.id,
        idempotency_key=idempotency_key,
        to_profile_id=to_profile_id,
        to_address=to_address,
        template_id=campaign.template_id,
        marketing=True,
        send_after=send_after,
        kick=False,
    )
    overrides = _content_overrides(campaign)
    if overrides and message.status == ledger.QUEUED and message.attempts == 0:
        message.content = {**(message.content or {}), **overrides}
    return message


def recipient_key(campaign_id: uuid.UUID, profile_id: uuid.UUID) -> str:
    return f"campaign:{campaign_id}:{profile_id}"


def fan_out(database: Database, campaign_id: uuid.UUID, limit: int = PUMP_BATCH) -> int:
    """Give up to `limit` pending recipients of a sending campaign their messages, in one
    transaction; the kicks go after the commit. Returns how many recipients it handled."""
    with database.transaction() as session:
        # The campaign row's lock makes pumps in several processes take turns, and a pause or
        # cancel wait for the batch in hand (or the batch see it).
        campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
        if campaign is None or campaign.status != SENDING:
            return 0
        now = utcnow()
        batch = list(
            session.scalars(
                sa.select(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.status == PENDING,
                    sa.or_(
                        CampaignRecipient.scheduled_for.is_(None),
                        CampaignRecipient.scheduled_for <= now,
                    ),
                )
                .order_by(CampaignRecipient.id)
                .limit(limit)
            )
        )
        for recipient in batch:
            try:
                message = _queue_for(
                    session,
                    campaign,
                    source="campaign",
                    idempotency_key=recipient_key(campaign.id, recipient.profile_id),
                    to_profile_id=recipient.profile_id,
                    send_after=recipient.scheduled_for,
                )
            except (InvalidInput, NotFound) as exc:
                # The profile was erased, or lost its address, since the snapshot.
                recipient.status = SKIPPED
                recipient.skip_reason = (getattr(exc, "message", None) or str(exc))[:64]
                continue
            recipient.status = QUEUED
            recipient.message_id = message.id
            if message.status == ledger.QUEUED:
                messages.kick_send(session, message)
        session.flush()
        return len(batch)


def _mirror_messages(session: Session, campaign_id: uuid.UUID) -> int:
    """Queued recipients whose message is final take its status."""
    final = tuple(ledger.FINAL_STATUSES)
    message_status = (
        sa.select(Message.status)
        .where(Message.id == CampaignRecipient.message_id)
        .scalar_subquery()
    )
    result = session.execute(
        sa.update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status == QUEUED,
            sa.exists().where(
                Message.id == CampaignRecipient.message_id, Message.status.in_(final)
            ),
        )
        .values(status=message_status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def finish_if_done(database: Database, campaign_id: uuid.UUID) -> bool:
    """Record final message outcomes on their recipients; mark the campaign sent when its
    audience is complete and every recipient is final. True when it did."""
    with database.transaction() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
        if campaign is None or campaign.status not in (SENDING, CANCELLED):
            return False
        _mirror_messages(session, campaign.id)
        if campaign.status != SENDING or campaign.audience_at is None:
            return False
        still_open = session.scalar(
            sa.select(CampaignRecipient.id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.status.in_(OPEN_RECIPIENT_STATUSES),
            )
            .limit(1)
        )
        if still_open is not None:
            return False
        campaign.status = SENT
        campaign.finished_at = utcnow()
        logger.info("campaign %s sent", campaign.id)
        return True


def pump(database: Database) -> int:
    """One round over every sending campaign (and cancelled ones with messages in flight):
    fan out a batch, then see whether it is complete. Returns recipients handled."""
    with database.transaction() as session:
        active = list(
            session.scalars(
                sa.select(Campaign.id).where(
                    sa.or_(
                        Campaign.status == SENDING,
                        sa.and_(
                            Campaign.status == CANCELLED,
                            sa.exists().where(
                                CampaignRecipient.campaign_id == Campaign.id,
                                CampaignRecipient.status == QUEUED,
                            ),
                        ),
                    )
                )
            )
        )
    handled = 0
    for campaign_id in active:
        try:
            done = fan_out(database, campaign_id)
            handled += done
            if done < PUMP_BATCH:
                finish_if_done(database, campaign_id)
        except Exception:
            # One campaign's trouble must not stop the others.
            logger.exception("campaign %s: fan-out failed", campaign_id)
    return handled


# --- Preview, test sends, recipients and stats ----------------------------------------------------


def _parts(session: Session, campaign: Campaign) -> TemplateParts:
    if campaign.template_id is None:
        raise InvalidInput.for_field("template_id", "choose a template first")
    template = templates.get_template(session, campaign.org_id, campaign.template_id)
    parts = parts_of(template)
    if campaign.subject:
        parts = TemplateParts(
            subject=campaign.subject, preheader=parts.preheader, html=parts.html, text=parts.text
        )
    return parts


def preview(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, profile_id: uuid.UUID | None
) -> RenderedEmail:
    campaign = get_campaign(session, org_id, campaign_id)
    return templates.preview(session, org_id, _parts(session, campaign), profile_id=profile_id)


def test_send(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, address: str) -> Message:
    """The campaign's email to one address now, as a transactional-source message: it is not a
    recipient and not counted in the stats."""
    campaign = get_campaign(session, org_id, campaign_id)
    _parts(session, campaign)
    message = _queue_for(
        session,
        campaign,
        source="transactional",
        idempotency_key=f"campaign-test:{campaign.id}:{uuid.uuid4()}",
        to_address=address,
    )
    messages.kick_send(session, message)
    return message


def list_recipients(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CampaignRecipient], str | None]:
    """In snapshot order, by keyset cursor."""
    campaign = get_campaign(session, org_id, campaign_id)
    query = sa.select(CampaignRecipient).where(
        CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.org_id == org_id
    )
    if status is not None:
        query = query.where(CampaignRecipient.status == status)
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if not after.isdigit():
            raise InvalidInput.for_field("cursor", "not a cursor this API returned")
        query = query.where(CampaignRecipient.id > int(after))
    rows = list(session.scalars(query.order_by(CampaignRecipient.id).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def recipient_counts(session: Session, campaign_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        sa.select(CampaignRecipient.status, sa.func.count())
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(CampaignRecipient.status)
    )
    return {status: int(count) for status, count in rows}


def recipient_counts_for(
    session: Session, campaign_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    counts: dict[uuid.UUID, dict[str, int]] = {c: {} for c in campaign_ids}
    if not campaign_ids:
        return counts
    rows = session.execute(
        sa.select(CampaignRecipient.campaign_id, CampaignRecipient.status, sa.func.count())
        .where(CampaignRecipient.campaign_id.in_(list(campaign_ids)))
        .group_by(CampaignRecipient.campaign_id, CampaignRecipient.status)
    )
    for campaign_id, status, count in rows:
        counts[campaign_id][status] = int(count)
    return counts


def stats(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, int]:
    """Recipients, and what happened to the campaign's messages. Opens and clicks count people
    (unique: messages with at least one) and in total, leaving out machine opens and clicks."""
    campaign = get_campaign(session, org_id, campaign_id)
    counts = recipient_counts(session, campaign.id)
    campaign_messages = sa.select(Message.id).where(
        Message.org_id == org_id, Message.source == "campaign", Message.source_id == campaign.id
    )
    sent, delivered = session.execute(
        sa.select(sa.func.count(Message.sent_at), sa.func.count(Message.delivered_at)).where(
            Message.id.in_(campaign_messages)
        )
    ).one()
    events = session.execute(
        sa.select(
            MessageEvent.kind,
            sa.func.count(),
            sa.func.count(sa.distinct(MessageEvent.message_id)),
        )
        .where(
            MessageEvent.org_id == org_id,
            MessageEvent.message_id.in_(campaign_messages),
            MessageEvent.kind.in_(("opened", "clicked", "unsubscribed", "bounced", "complained")),
            MessageEvent.machine.is_(False),
        )
        .group_by(MessageEvent.kind)
    )
    by_kind = {kind: (int(total), int(unique)) for kind, total, unique in events}

    def unique(kind: str) -> int:
        return by_kind.get(kind, (0, 0))[1]

    def total(kind: str) -> int:
        return by_kind.get(kind, (0, 0))[0]

    return {
        "recipients": sum(counts.values()),
        "skipped": sum(v for k, v in counts.items() if k in (SKIPPED, RECIPIENT_CANCELLED)),
        "sent": int(sent),
        "delivered": int(delivered),
        "bounced": unique("bounced"),
        "opens_unique": unique("opened"),
        "opens_total": total("opened"),
        "clicks_unique": unique("clicked"),
        "clicks_total": total("clicked"),
        "unsubscribes": unique("unsubscribed"),
        "complaints": unique("complained"),
    }
