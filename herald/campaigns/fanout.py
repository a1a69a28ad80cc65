"""Campaign fan-out into the message ledger, A/B test decisions and completion.

How a campaign survives crashes (DESIGN invariant 3):

- The pump (every worker process, every second) takes a batch of pending recipients of each
  sending campaign, records their messages with `queue_email` under the key
  `campaign:<campaign>:<profile>` and marks them queued with the message id, in one transaction;
  the send kicks go out after the commit. A crash before the commit leaves the recipients pending
  and no message; a crash after it leaves queued messages that the email sweep kicks again. The
  key is unique, so a recipient can never get two messages; the ledger's claim sends each message
  once.
- A queued recipient takes its message's status once that is final. The campaign is `sent` only
  when the snapshot (`herald.campaigns.snapshot`) has finished and no recipient is pending or
  queued."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.campaigns import sendtime, variants
from herald.campaigns.snapshot import optimize_send_times
from herald.campaigns.statuses import (
    CANCELLED,
    MERGED,
    OPEN_RECIPIENT_STATUSES,
    PENDING,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    WAITING,
)
from herald.db import Database, UTCDateTime, utcnow
from herald.errors import HeraldError
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import Campaign, CampaignRecipient, Message
from herald.sms import service as sms_service

logger = logging.getLogger(__name__)

# Recipients given their message per pump transaction.
PUMP_BATCH = 500


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
