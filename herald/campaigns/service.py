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
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.campaigns import sendtime, variants
from herald.campaigns import stats as campaign_stats
from herald.campaigns.statuses import (
    CANCELLED,
    DRAFT,
    EXCLUDED_SEGMENT,
    MERGED,
    NO_CONSENT,
    NO_EMAIL,
    NO_PHONE,
    OPEN_RECIPIENT_STATUSES,
    PAUSED,
    PENDING,
    QUEUED,
    RECIPIENT_CANCELLED,
    SCHEDULED,
    SENDING,
    SENT,
    SKIPPED,
    SMART_SENDING,
    SUPPRESSED,
    WAITING,
)
from herald.db import Database, UTCDateTime, utcnow
from herald.email.service import SendVerdict, send_gate
from herald.errors import Conflict, FieldError, HeraldError, InvalidInput, NotFound
from herald.jobs.service import JobRun, create_job, job_handler
from herald.messaging import consent, ledger
from herald.messaging import service as messages
from herald.messaging.service import CAMPAIGN_TEST
from herald.models import (
    Campaign,
    CampaignRecipient,
    EmailTemplate,
    Message,
    Organization,
    Profile,
    Segment,
    SegmentMember,
)
from herald.pagination import decode_cursor, encode_cursor
from herald.sms import service as sms_service
from herald.templates import service as templates
from herald.templates.rendering import (
    RenderedEmail,
    TemplateError,
    TemplateParts,
    check_text,
    parts_of,
)
from herald.tenancy.scope import get_scoped, scoped

logger = logging.getLogger(__name__)

SNAPSHOT_JOB = "campaign.snapshot"
# Candidate profiles per snapshot transaction.
SNAPSHOT_CHUNK = 10_000
# Recipients given their message per pump transaction.
PUMP_BATCH = 500
MAX_SMART_SENDING_HOURS = 24 * 7
# The time zones in use run from UTC-12 to UTC+14: a local-time campaign starts when its time
# comes at UTC+14 and its last recipients get it 26 hours later.
EARLIEST_UTC_OFFSET = timedelta(hours=14)
LATEST_UTC_OFFSET = timedelta(hours=12)
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


def _check_ab_test(
    session: Session, org_id: uuid.UUID, ab_test: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The settings as stored (JSON-ready), after checking each variant's template."""
    if ab_test is None:
        return None
    keys = [variant["key"] for variant in ab_test["variants"]]
    if ab_test.get("fallback") == "default" and ab_test.get("default_variant") not in keys:
        raise InvalidInput.for_field(
            "ab_test.default_variant", f"with fallback 'default', name one of {', '.join(keys)}"
        )
    for index, variant in enumerate(ab_test["variants"]):
        _check_sms_body(f"ab_test.variants[{index}].sms_body", variant.get("sms_body"))
        try:
            _check_template(session, org_id, variant.get("template_id"))
        except InvalidInput as exc:
            raise InvalidInput.for_field(
                f"ab_test.variants[{index}].template_id", "no such template"
            ) from exc
    return {
        **ab_test,
        "variants": [
            {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in variant.items()}
            for variant in ab_test["variants"]
        ],
    }


def _check_sms_body(field: str, body: str | None) -> str | None:
    """An SMS text whose personalization compiles in the template sandbox."""
    if body is not None:
        try:
            check_text(body, field)
        except TemplateError as exc:
            raise InvalidInput.for_field(field, exc.problems[0].describe()) from exc
    return body


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
    for name in ("subject", "from_name", "from_email"):  # null: the template's
        if name in fields:
            setattr(campaign, name, fields[name])
    if fields.get("channel") is not None:
        campaign.channel = fields["channel"]
    if "sms_body" in fields:
        campaign.sms_body = _check_sms_body("sms_body", fields["sms_body"])
    if fields.get("media_urls") is not None:
        campaign.media_urls = list(fields["media_urls"])
    for name in (
        "smart_sending",
        "smart_sending_hours",
        "send_time_optimization",
        "conversion_metric",
    ):
        if fields.get(name) is not None:
            setattr(campaign, name, fields[name])
    if "ab_test" in fields:
        campaign.ab_test = _check_ab_test(session, org_id, fields["ab_test"])
    if (
        campaign.send_time_optimization
        and campaign.ab_test
        and any(v.get("send_delay_minutes") is not None for v in campaign.ab_test["variants"])
    ):
        raise InvalidInput.for_field(
            "send_time_optimization",
            "an A/B test of send times and send-time optimization exclude each other",
        )
    if "include_segment_ids" in fields:
        campaign.include_segment_ids = _check_segments(
            session, org_id, "include_segment_ids", fields["include_segment_ids"] or []
        )
    if "exclude_segment_ids" in fields:
        campaign.exclude_segment_ids = _check_segments(
            session, org_id, "exclude_segment_ids", fields["exclude_segment_ids"] or []
        )


def create_campaign(session: Session, org_id: uuid.UUID, fields: dict[str, Any]) -> Campaign:
    channel = fields.get("channel") or "email"
    campaign = Campaign(
        org_id=org_id,
        name="",
        channel=channel,
        status=DRAFT,
        include_segment_ids=[],
        exclude_segment_ids=[],
        media_urls=[],
        smart_sending=True,
        # SMS is the more intrusive channel: a day between marketing texts by default.
        smart_sending_hours=SMS_SMART_SENDING_HOURS if channel == "sms" else 16,
        send_time_optimization=False,
        conversion_metric="Placed Order",
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
        sms_body=source.sms_body,
        media_urls=list(source.media_urls or []),
        subject=source.subject,
        from_name=source.from_name,
        from_email=source.from_email,
        include_segment_ids=list(source.include_segment_ids),
        exclude_segment_ids=list(source.exclude_segment_ids),
        smart_sending=source.smart_sending,
        smart_sending_hours=source.smart_sending_hours,
        ab_test=source.ab_test,
        send_time_optimization=source.send_time_optimization,
        conversion_metric=source.conversion_metric,
        status=DRAFT,
    )
    session.add(copy)
    session.flush()
    return copy


# A day between marketing texts by default (email: 16 hours).
SMS_SMART_SENDING_HOURS = 24


# --- Status changes -------------------------------------------------------------------------------


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


def local_send_moment(
    local_at: datetime, zone: tzinfo, now: datetime, grace: timedelta
) -> datetime | None:
    """When a recipient in `zone` gets a campaign sent at the wall-clock time `local_at`: that
    moment if it is ahead; None (at once) if it passed less than `grace` ago; otherwise the same
    time the next day."""
    moment = local_at.replace(tzinfo=zone).astimezone(UTC)
    if moment >= now:
        return moment
    if now - moment <= grace:
        return None
    return (local_at + timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)


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


# --- The audience snapshot ------------------------------------------------------------------------


def _in_segments(segment_ids: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        SegmentMember.segment_id.in_([uuid.UUID(s) for s in segment_ids]),
        SegmentMember.profile_id == Profile.id,
    )


def _candidates(campaign: Campaign) -> sa.ColumnElement[bool]:
    """Live profiles of the organization in any included segment."""
    return sa.and_(
        Profile.org_id == campaign.org_id,
        Profile.merged_into_id.is_(None),
        _in_segments(campaign.include_segment_ids),
    )


def _excluded(campaign: Campaign) -> sa.ColumnElement[bool]:
    """The profile is in one of the campaign's excluded segments."""
    if not campaign.exclude_segment_ids:
        return sa.false()
    return _in_segments(campaign.exclude_segment_ids)


def _audience(campaign: Campaign) -> sa.ColumnElement[bool]:
    """Live profiles of the organization in any included segment and in no excluded one."""
    if not campaign.exclude_segment_ids:
        return _candidates(campaign)
    return sa.and_(_candidates(campaign), ~_excluded(campaign))


def _skip_reason(campaign: Campaign, now: datetime) -> sa.ColumnElement[Any]:
    """Why a candidate is left out, or NULL: the first that applies, in this order. The channel's
    address, suppression and consent are the one consent rule's (herald.messaging.consent)."""
    channel = campaign.channel or "email"
    address = Profile.phone if channel == "sms" else Profile.email
    whens: list[tuple[sa.ColumnElement[bool], str]] = [
        (address.is_(None), NO_PHONE if channel == "sms" else NO_EMAIL),
        (consent.suppressed_clause(channel), SUPPRESSED),
        (consent.consent_refused_clause(channel), NO_CONSENT),
    ]
    if campaign.smart_sending:
        since = now - timedelta(hours=campaign.smart_sending_hours)
        recently = sa.exists().where(
            Message.org_id == campaign.org_id,
            Message.profile_id == Profile.id,
            Message.channel == channel,
            Message.marketing.is_(True),
            # A test send goes to the marketer, not to the person as marketing.
            Message.source != CAMPAIGN_TEST,
            sa.or_(Message.source_id.is_(None), Message.source_id != campaign.id),
            Message.status.notin_((ledger.FAILED, ledger.SUPPRESSED, ledger.SKIPPED)),
            sa.func.coalesce(Message.sent_at, Message.created_at) >= since,
        )
        whens.append((recently, SMART_SENDING))
    return sa.case(*whens, else_=sa.null())


def _local_send_times(
    session: Session, campaign: Campaign, candidates: sa.ColumnElement[bool], now: datetime
) -> sa.ColumnElement[Any]:
    """Each candidate's moment for a local-time campaign, by its time zone (else the
    organization's): one CASE over the time zones the candidates use."""
    local_at = campaign.local_send_at
    assert local_at is not None
    org_zone = session.scalar(
        sa.select(Organization.timezone).where(Organization.id == campaign.org_id)
    )
    grace = timedelta(minutes=campaign.local_grace_minutes or 0)

    def moment(*zones: str | None) -> sa.ColumnElement[Any]:
        when = local_send_moment(local_at, sendtime.resolve_timezone(*zones), now, grace)
        return sa.null() if when is None else sa.literal(when, UTCDateTime())

    names = session.scalars(sa.select(Profile.timezone).where(candidates).distinct())
    whens = {name: moment(name, org_zone) for name in names if name}
    if not whens:
        return moment(org_zone)
    return sa.case(whens, value=Profile.timezone, else_=moment(org_zone))


def audience_size(session: Session, org_id: uuid.UUID, fields: dict[str, Any]) -> dict[str, Any]:
    """Who a campaign with these segments and smart-sending settings would reach if it started
    now: the snapshot's own conditions on the current segment memberships, counted. The
    candidates in an excluded segment are counted apart (`excluded`); the rest are the audience
    (`total`): `eligible`, and `skipped` by the reason the snapshot would record."""
    probe = Campaign(
        id=uuid.uuid4(),
        org_id=org_id,
        include_segment_ids=_check_segments(
            session, org_id, "include_segment_ids", fields["include_segment_ids"]
        ),
        exclude_segment_ids=_check_segments(
            session, org_id, "exclude_segment_ids", fields["exclude_segment_ids"]
        ),
        channel=fields.get("channel") or "email",
        smart_sending=fields["smart_sending"],
        smart_sending_hours=fields["smart_sending_hours"]
        or (SMS_SMART_SENDING_HOURS if fields.get("channel") == "sms" else 16),
    )
    if not probe.include_segment_ids:
        raise InvalidInput.for_field("include_segment_ids", "choose at least one segment")
    reason = sa.case(
        (_excluded(probe), EXCLUDED_SEGMENT), else_=_skip_reason(probe, utcnow())
    ).label("reason")
    rows = session.execute(
        sa.select(reason, sa.func.count()).where(_candidates(probe)).group_by(reason)
    ).all()
    skipped = {str(why): int(count) for why, count in rows if why is not None}
    excluded = skipped.pop(EXCLUDED_SEGMENT, 0)
    eligible = sum(int(count) for why, count in rows if why is None)
    return {
        "total": eligible + sum(skipped.values()),
        "excluded": excluded,
        "eligible": eligible,
        "skipped": skipped,
    }


def snapshot_chunk(
    session: Session,
    campaign: Campaign,
    after: uuid.UUID | None,
    upto: uuid.UUID | None,
    now: datetime,
) -> int:
    """Insert the recipients among candidates with `after < id <= upto` (open ends when None)
    that are not recipients yet; returns how many rows were added. With an A/B test they wait
    until the snapshot's end deals out the test pool."""
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
    send_at: sa.ColumnElement[Any] = sa.null()
    if campaign.local_send_at is not None:
        local = _local_send_times(session, campaign, condition, now)
        send_at = sa.case((reason.is_(None), local), else_=sa.null())
    select = sa.select(
        sa.literal(campaign.id, sa.Uuid()),
        Profile.org_id,
        Profile.id,
        Profile.phone if campaign.channel == "sms" else Profile.email,
        sa.null(),
        send_at,
        sa.case((reason.is_(None), WAITING if campaign.ab_test else PENDING), else_=SKIPPED),
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


def optimize_send_times(
    session: Session,
    campaign: Campaign,
    recipients: sa.ColumnElement[bool],
    window_start: datetime,
    prior: Sequence[float],
) -> int:
    """Send-time optimization: the chosen recipients (a condition on CampaignRecipient) go at
    their most engaged hour within 24 hours of `window_start` (herald/campaigns/sendtime.py)."""
    rows = session.execute(
        sa.select(CampaignRecipient.id, CampaignRecipient.profile_id, Profile.timezone)
        .join(Profile, Profile.id == CampaignRecipient.profile_id)
        .where(CampaignRecipient.campaign_id == campaign.id, recipients)
    ).all()
    if not rows:
        return 0
    org_zone = session.scalar(
        sa.select(Organization.timezone).where(Organization.id == campaign.org_id)
    )
    counts = sendtime.engagement_counts(
        session,
        campaign.org_id,
        [row.profile_id for row in rows],
        since=window_start - sendtime.HISTORY,
    )
    nothing = [0] * sendtime.HOURS_PER_WEEK
    session.execute(
        sa.update(CampaignRecipient),
        [
            {
                "id": row.id,
                "scheduled_for": sendtime.best_send_time(
                    counts.get(row.profile_id, nothing),
                    prior,
                    window_start,
                    sendtime.resolve_timezone(row.timezone, org_zone),
                ),
            }
            for row in rows
        ],
    )
    return len(rows)


def _chunk_end(session: Session, campaign: Campaign, after: uuid.UUID | None) -> uuid.UUID | None:
    """The id that ends the next chunk of candidates, or None when the rest fits in one."""
    query = sa.select(Profile.id).where(_audience(campaign))
    if after is not None:
        query = query.where(Profile.id > after)
    return session.scalar(query.order_by(Profile.id).offset(SNAPSHOT_CHUNK - 1).limit(1))


@job_handler(SNAPSHOT_JOB)
def _run_snapshot(run: JobRun) -> dict[str, Any]:
    campaign_id = uuid.UUID(run.payload["campaign_id"])
    prior: list[float] | None = None
    with run.database.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return {"campaign": "deleted"}
        total = session.scalar(
            sa.select(sa.func.count()).select_from(Profile).where(_audience(campaign))
        )
        run.save_progress(session, done=run.progress_done, total=int(total or 0))
        if campaign.send_time_optimization:
            prior = sendtime.organization_pattern(session, campaign.org_id, utcnow())
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
            if prior is not None:
                in_chunk: sa.ColumnElement[bool] = CampaignRecipient.status.in_((WAITING, PENDING))
                if after is not None:
                    in_chunk = sa.and_(in_chunk, CampaignRecipient.profile_id > after)
                if upto is not None:
                    in_chunk = sa.and_(in_chunk, CampaignRecipient.profile_id <= upto)
                optimize_send_times(session, campaign, in_chunk, campaign.started_at or now, prior)
            if upto is None:
                campaign.audience_at = now
                if campaign.ab_test:
                    variants.deal_test_pool(session, campaign, now)
                run.save_progress(session, done=run.progress_done + added)
                return {"recipients": run.progress_done}
            run.save_progress(
                session, done=run.progress_done + added, checkpoint={"after": str(upto)}
            )


# --- Fan-out and completion -----------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientContent:
    """What a recipient's message is made from: the template, and the subject and sender that
    the email worker uses instead of the template's."""

    template_id: uuid.UUID | None
    overrides: dict[str, str]


def _variant(campaign: Campaign, key: str | None) -> dict[str, Any]:
    if key is None or not campaign.ab_test:
        return {}
    for variant in campaign.ab_test.get("variants", []):
        if variant.get("key") == key:
            return dict(variant)
    return {}


def recipient_content(campaign: Campaign, variant_key: str | None) -> RecipientContent:
    """The campaign's content, with what the recipient's A/B variant changes."""
    variant = _variant(campaign, variant_key)
    overrides = {
        "subject": variant.get("subject") or campaign.subject,
        "from_name": variant.get("from_name") or campaign.from_name,
        "from_email": campaign.from_email,
    }
    template_id = variant.get("template_id") or campaign.template_id
    return RecipientContent(
        template_id=uuid.UUID(str(template_id)) if template_id else None,
        overrides={k: v for k, v in overrides.items() if v},
    )


def sms_text(campaign: Campaign, variant_key: str | None) -> str:
    """An SMS campaign's text for a recipient's A/B variant."""
    return str(_variant(campaign, variant_key).get("sms_body") or campaign.sms_body or "")


def _queue_for(
    session: Session,
    campaign: Campaign,
    *,
    idempotency_key: str,
    source: str,
    to_profile_id: uuid.UUID | None = None,
    to_address: str | None = None,
    send_after: datetime | None = None,
    variant: str | None = None,
) -> Message:
    content = recipient_content(campaign, variant)
    return messages.queue_email(
        session,
        campaign.org_id,
        source=source,
        source_id=campaign.id,
        idempotency_key=idempotency_key,
        to_profile_id=to_profile_id,
        to_address=to_address,
        template_id=content.template_id,
        marketing=True,
        send_after=send_after,
        overrides=content.overrides,
        kick=False,
    )


def recipient_key(campaign_id: uuid.UUID, profile_id: uuid.UUID) -> str:
    return f"campaign:{campaign_id}:{profile_id}"


def fan_out(database: Database, campaign_id: uuid.UUID, limit: int = PUMP_BATCH) -> int:
    """Give up to `limit` pending recipients of a sending campaign their messages, in one
    transaction of a few statements (`queue_emails` records the batch's messages at once); the
    kicks go after the commit, a task for every BATCH_SIZE messages. Returns how many recipients
    it handled."""
    with database.transaction() as session:
        # The campaign row's lock makes pumps in several processes take turns, and a pause or
        # cancel wait for the batch in hand (or the batch see it).
        campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
        if campaign is None or campaign.status != SENDING:
            return 0
        now = utcnow()
        batch = session.execute(
            sa.select(
                CampaignRecipient.id,
                CampaignRecipient.profile_id,
                CampaignRecipient.variant,
                CampaignRecipient.scheduled_for,
            )
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.status == PENDING,
                sa.or_(
                    CampaignRecipient.scheduled_for.is_(None),
                    CampaignRecipient.scheduled_for <= now,
                ),
            )
            # Any pending rows, in no particular order: ordering them by id sorted every
            # pending row of the campaign for each batch (280 ms at 600,000).
            .limit(limit)
        ).all()
        contents: dict[str | None, RecipientContent] = {}
        requests = []
        # Keyed by the live profile: two recipients merged into one person since the snapshot
        # share a key, so the person gets one message and the other row is skipped below.
        live = messages.live_profiles(
            session, campaign.org_id, [recipient.profile_id for recipient in batch]
        )

        def person(recipient: Any) -> uuid.UUID:
            profile_id: uuid.UUID = recipient.profile_id
            return live.get(profile_id, (profile_id, None))[0]

        # The person's own row first, so that it is the one that keeps the message.
        batch = sorted(batch, key=lambda recipient: person(recipient) != recipient.profile_id)
        outcomes: Sequence[messages.QueuedEmail | HeraldError]
        if campaign.channel == "sms":
            outcomes = sms_service.queue_sms_many(
                session,
                campaign.org_id,
                [
                    sms_service.SmsRequest(
                        idempotency_key=recipient_key(campaign.id, person(recipient)),
                        body=sms_text(campaign, recipient.variant),
                        to_profile_id=recipient.profile_id,
                        media_urls=list(campaign.media_urls or []),
                        send_after=recipient.scheduled_for,
                    )
                    for recipient in batch
                ],
                source="campaign",
                source_id=campaign.id,
                marketing=True,
            )
        else:
            for recipient in batch:
                if recipient.variant not in contents:
                    contents[recipient.variant] = recipient_content(campaign, recipient.variant)
                content = contents[recipient.variant]
                requests.append(
                    messages.EmailRequest(
                        idempotency_key=recipient_key(campaign.id, person(recipient)),
                        to_profile_id=recipient.profile_id,
                        template_id=content.template_id,
                        send_after=recipient.scheduled_for,
                        overrides=content.overrides,
                    )
                )
            outcomes = messages.queue_emails(
                session,
                campaign.org_id,
                requests,
                source="campaign",
                source_id=campaign.id,
                marketing=True,
            )
        updates: list[dict[str, Any]] = []
        kicks = []
        # A message that existed before this batch belongs to the row that first got it: this
        # row again (its batch was lost after the commit), or another row of the same person.
        owners = dict(
            session.execute(
                sa.select(CampaignRecipient.message_id, CampaignRecipient.id).where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.message_id.in_(
                        [
                            outcome.message_id
                            for outcome in outcomes
                            if not isinstance(outcome, HeraldError) and not outcome.created
                        ]
                    ),
                )
            ).all()
        )
        for recipient, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, HeraldError):
                # The profile was erased, or lost its address, since the snapshot.
                reason = outcome.message[:64]
                updates.append({"id": recipient.id, "status": SKIPPED, "skip_reason": reason})
                continue
            if owners.setdefault(outcome.message_id, recipient.id) != recipient.id:
                # Another recipient row is the same person now, and has the message.
                updates.append({"id": recipient.id, "status": SKIPPED, "skip_reason": MERGED})
                continue
            updates.append({"id": recipient.id, "status": QUEUED, "message_id": outcome.message_id})
            if outcome.status == ledger.QUEUED:
                kicks.append((outcome.message_id, outcome.send_after))
        for shape in ({"skip_reason"}, {"message_id"}):  # one executemany per set of columns
            rows = [{**row, "updated_at": now} for row in updates if shape <= row.keys()]
            ledger.bulk_update(session, CampaignRecipient, rows)
        messages.kick_sends(session, kicks)
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
        if campaign.ab_test and campaign.ab_result is None:  # the test is part of the campaign
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


def decide_test(database: Database, campaign_id: uuid.UUID, now: datetime | None = None) -> bool:
    """If the campaign's A/B test is due, pick the winner and release the waiting recipients to
    it (with send-time optimization, at their best hour from now). True when it decided."""
    now = now or utcnow()
    with database.transaction() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
        if (
            campaign is None
            or campaign.status != SENDING
            or not campaign.ab_test
            or campaign.ab_result is not None
            or campaign.ab_decide_at is None
            or campaign.ab_decide_at > now
        ):
            return False
        decision = variants.decide(session, campaign, now)
        waiting = sa.and_(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status == WAITING
        )
        session.execute(
            sa.update(CampaignRecipient)
            .where(waiting)
            .values(
                variant=decision.winner,
                scheduled_for=sa.func.coalesce(
                    CampaignRecipient.scheduled_for,
                    sa.literal(
                        variants.winner_send_at(campaign, decision.winner, now), UTCDateTime()
                    ),
                ),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if campaign.send_time_optimization:
            prior = sendtime.organization_pattern(session, campaign.org_id, now)
            optimize_send_times(session, campaign, CampaignRecipient.status == WAITING, now, prior)
        session.execute(
            sa.update(CampaignRecipient)
            .where(waiting)
            .values(status=PENDING)
            .execution_options(synchronize_session=False)
        )
        logger.info("campaign %s: A/B test decided: %s", campaign.id, decision.reason)
        return True


def decide_due_tests(database: Database, now: datetime | None = None) -> int:
    """Every sending campaign whose A/B test is due (the periodic task)."""
    now = now or utcnow()
    with database.transaction() as session:
        due = list(
            session.scalars(
                sa.select(Campaign.id).where(
                    Campaign.status == SENDING,
                    Campaign.ab_decide_at <= now,
                )
            )
        )
    decided = 0
    for campaign_id in due:
        try:
            decided += decide_test(database, campaign_id, now)
        except Exception:
            logger.exception("campaign %s: deciding its A/B test failed", campaign_id)
    return decided


# Seeing whether a campaign is complete mirrors final message outcomes onto its queued
# recipients: a scan of every queued recipient, hundreds of thousands for a large campaign whose
# fan-out is far ahead of its sending. While more than MANY_QUEUED recipients are queued a process
# does that at most every FINISH_CHECK_EVERY seconds; with fewer (the campaign's last seconds, or
# any small campaign) at every round, so completion is seen at once. Per process, by campaign.
MANY_QUEUED = 10_000
FINISH_CHECK_EVERY = 10.0
_next_finish_check: dict[uuid.UUID, float] = {}


def _many_queued(database: Database, campaign_id: uuid.UUID) -> bool:
    with database.transaction() as session:
        queued = (
            sa.select(CampaignRecipient.id)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == QUEUED)
            .limit(MANY_QUEUED + 1)
            .subquery()
        )
        count = session.scalar(sa.select(sa.func.count()).select_from(queued)) or 0
        return count > MANY_QUEUED


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
    for gone in _next_finish_check.keys() - set(active):
        del _next_finish_check[gone]
    handled = 0
    for campaign_id in active:
        try:
            done = fan_out(database, campaign_id)
            handled += done
            due = done < PUMP_BATCH and time.monotonic() >= _next_finish_check.get(campaign_id, 0)
            finished = due and finish_if_done(database, campaign_id)
            if due and not finished and _many_queued(database, campaign_id):
                _next_finish_check[campaign_id] = time.monotonic() + FINISH_CHECK_EVERY
        except Exception:
            # One campaign's trouble must not stop the others.
            logger.exception("campaign %s: fan-out failed", campaign_id)
    return handled


# --- Preview, test sends, recipients and stats ----------------------------------------------------


def _check_variant(campaign: Campaign, variant: str | None) -> None:
    if variant is not None and not _variant(campaign, variant):
        raise InvalidInput.for_field("variant", "this campaign has no such A/B variant")


def _parts(session: Session, campaign: Campaign, variant: str | None = None) -> TemplateParts:
    content = recipient_content(campaign, variant)
    if content.template_id is None:
        raise InvalidInput.for_field("template_id", "choose a template first")
    template = templates.get_template(session, campaign.org_id, content.template_id)
    parts = parts_of(template)
    subject = content.overrides.get("subject")
    if subject:
        parts = TemplateParts(
            subject=subject, preheader=parts.preheader, html=parts.html, text=parts.text
        )
    return parts


def preview(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    profile_id: uuid.UUID | None,
    variant: str | None = None,
    sample: Mapping[str, Any] | None = None,
) -> RenderedEmail:
    """The email as `profile_id` would get it, or for `sample` data as a template's preview
    takes it (of an A/B variant, if given)."""
    campaign = get_campaign(session, org_id, campaign_id)
    _check_variant(campaign, variant)
    parts = _parts(session, campaign, variant)
    return templates.preview(session, org_id, parts, profile_id=profile_id, sample=sample)


def test_send(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    address: str,
    variant: str | None = None,
) -> Message:
    """The campaign's email (of an A/B variant, if given) to one address now, as a message of
    the source `campaign_test`: it is not a recipient, not counted in the stats, and not counted
    by smart sending."""
    campaign = get_campaign(session, org_id, campaign_id)
    _check_variant(campaign, variant)
    _parts(session, campaign, variant)
    message = _queue_for(
        session,
        campaign,
        source=messages.CAMPAIGN_TEST,
        idempotency_key=f"campaign-test:{campaign.id}:{uuid.uuid4()}",
        to_address=address,
        variant=variant,
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


def engagement(
    session: Session, org_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, bool]]:
    """Whether the person opened (machine opens aside), clicked or unsubscribed, per message:
    the stats' own measures (herald.analytics.measures), keyed by message."""
    if not message_ids:
        return {}
    keyed = sa.select(Message.id.label("message_id"), Message.id).where(
        Message.org_id == org_id, Message.id.in_(list(message_ids))
    )
    measured = measures.message_measures(session, org_id, keyed)
    return {
        message_id: {
            "opened": figures.opens_unique > 0,
            "clicked": figures.clicks_unique > 0,
            "unsubscribed": figures.unsubscribes > 0,
        }
        for (message_id,), figures in measured.items()
    }


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


def stats(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Any]:
    """The campaign's figures (herald/campaigns/stats.py), with each A/B variant's."""
    campaign = get_campaign(session, org_id, campaign_id)
    figures = campaign_stats.campaign_figures(session, campaign)
    keys = [v["key"] for v in (campaign.ab_test or {}).get("variants", [])]
    return {
        **figures[campaign_stats.ALL_RECIPIENTS].public(),
        # From the same rows as `recipients` and `skipped`, so that the two always agree.
        "counts": figures[campaign_stats.ALL_RECIPIENTS].statuses,
        "conversion_metric": campaign.conversion_metric,
        "variants": [
            {"variant": key, **figures.get(key, campaign_stats.Figures()).public()} for key in keys
        ],
    }
