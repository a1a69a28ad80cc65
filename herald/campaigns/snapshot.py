"""The audience snapshot of a campaign (DESIGN invariant 3): who is in the audience, why a profile
is skipped, each recipient's send moment (local time, send-time optimization) and the job that
inserts the recipients.

The job inserts the audience as recipient rows with INSERT ... SELECT, a chunk of profiles per
transaction with its checkpoint; the unique (campaign, profile) key makes a re-run after a crash
add only what is missing. `audience_at` is set when the last chunk commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.campaigns import sendtime, variants
from herald.campaigns.service import SMS_SMART_SENDING_HOURS, _check_segments
from herald.campaigns.statuses import (
    CANCELLED,
    EXCLUDED_SEGMENT,
    NO_CONSENT,
    NO_EMAIL,
    NO_PHONE,
    PENDING,
    SKIPPED,
    SMART_SENDING,
    SUPPRESSED,
    WAITING,
)
from herald.db import UTCDateTime, utcnow
from herald.errors import InvalidInput
from herald.jobs.service import JobRun, job_handler
from herald.messaging import consent, ledger
from herald.messaging.service import CAMPAIGN_TEST
from herald.models import Campaign, CampaignRecipient, Message, Organization, Profile, SegmentMember

SNAPSHOT_JOB = "campaign.snapshot"
# Candidate profiles per snapshot transaction.
SNAPSHOT_CHUNK = 10_000


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
