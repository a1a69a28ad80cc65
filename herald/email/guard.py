"""The deliverability guard: complaint and bounce rates per organization and provider over a
rolling window, a warning above COMPLAINT_WARN (Gmail's guidance: keep complaints under 0.1%),
and a pause of marketing email above COMPLAINT_PAUSE or above the bounce rate the install sets
(HERALD_BOUNCE_PAUSE_RATE), until an admin resumes it. Transactional email is never paused.

Rates count what happened since the later of the window's start and the last resume: an admin
who resumed after fixing the cause starts from a clean slate. Below MIN_SENT messages a rate
says too little to act on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.messaging import ledger
from herald.messaging.service import release_held
from herald.models import Message, MessageEvent, SendingPause
from herald.settings import get_settings

WINDOW = timedelta(days=7)
COMPLAINT_WARN = 0.001
COMPLAINT_PAUSE = 0.003
MIN_SENT = 100
# A held marketing message's error says why it waits; resuming releases those that say this.
HELD = "held: marketing email is paused (Settings → Email, Deliverability)"


@dataclass(frozen=True)
class ProviderRates:
    provider: str
    sent: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class Verdict:
    rates: list[ProviderRates]
    since: datetime
    warnings: list[str]
    pause_reason: str | None


def _since(session: Session, org_id: uuid.UUID, now: datetime) -> datetime:
    start = now - WINDOW
    pause = session.get(SendingPause, org_id)
    if pause is not None and pause.resumed_at is not None and pause.resumed_at > start:
        return pause.resumed_at
    return start


def rates(session: Session, org_id: uuid.UUID, since: datetime) -> list[ProviderRates]:
    """Per provider: messages sent since then, and of those, how many bounced or complained."""
    provider = sa.func.coalesce(Message.provider, "unknown")
    sent = dict(
        session.execute(
            sa.select(provider, sa.func.count())
            .where(Message.org_id == org_id, Message.sent_at >= since)
            .group_by(provider)
        ).all()
    )
    feedback = session.execute(
        sa.select(provider, MessageEvent.kind, sa.func.count(sa.distinct(MessageEvent.message_id)))
        .join(Message, Message.id == MessageEvent.message_id)
        .where(
            MessageEvent.org_id == org_id,
            MessageEvent.kind.in_((ledger.BOUNCED, ledger.COMPLAINED)),
            MessageEvent.at >= since,
            Message.org_id == org_id,
            Message.sent_at >= since,
        )
        .group_by(provider, MessageEvent.kind)
    ).all()
    counts: dict[tuple[str, str], int] = {(p, k): n for p, k, n in feedback}
    return [
        ProviderRates(
            provider=name,
            sent=int(count),
            bounced=counts.get((name, ledger.BOUNCED), 0),
            complained=counts.get((name, ledger.COMPLAINED), 0),
        )
        for name, count in sorted(sent.items())
    ]


def judge(session: Session, org_id: uuid.UUID, now: datetime | None = None) -> Verdict:
    now = now or utcnow()
    since = _since(session, org_id, now)
    measured = rates(session, org_id, since)
    bounce_limit = get_settings().bounce_pause_rate
    warnings: list[str] = []
    pause_reason = None
    for r in measured:
        if r.sent < MIN_SENT:
            continue
        if r.complaint_rate > COMPLAINT_WARN:
            warnings.append(
                f"{r.provider}: complaints at {r.complaint_rate:.2%} of {r.sent} sent "
                f"(keep them under {COMPLAINT_WARN:.1%})"
            )
        if r.complaint_rate > COMPLAINT_PAUSE and pause_reason is None:
            pause_reason = (
                f"complaints through {r.provider} reached {r.complaint_rate:.2%} of {r.sent} "
                f"messages (over {COMPLAINT_PAUSE:.1%})"
            )
        if r.bounce_rate > bounce_limit and pause_reason is None:
            pause_reason = (
                f"bounces through {r.provider} reached {r.bounce_rate:.2%} of {r.sent} "
                f"messages (over {bounce_limit:.1%})"
            )
    return Verdict(measured, since, warnings, pause_reason)


def check(session: Session, org_id: uuid.UUID) -> SendingPause | None:
    """Pause marketing email when the rates call for it (after a bounce or complaint came in).
    Returns the pause when there is one."""
    pause = session.get(SendingPause, org_id)
    if pause is not None and pause.paused:
        return pause
    verdict = judge(session, org_id)
    if verdict.pause_reason is None:
        return None
    if pause is None:
        pause = SendingPause(org_id=org_id, paused=True, reason=verdict.pause_reason)
        session.add(pause)
    else:
        pause.paused, pause.reason, pause.paused_at = True, verdict.pause_reason, utcnow()
    session.flush()
    return pause


def resume(session: Session, org_id: uuid.UUID) -> None:
    """An admin resumes marketing email; rates count again from now, and the messages the pause
    held are kicked once the caller commits."""
    pause = session.get(SendingPause, org_id)
    if pause is None:
        return
    pause.paused, pause.resumed_at = False, utcnow()
    release_held(session, org_id, HELD)
    session.flush()


def paused_among(session: Session, org_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Of these organizations, those whose marketing email is paused (one query)."""
    if not org_ids:
        return set()
    return set(
        session.scalars(
            sa.select(SendingPause.org_id).where(
                SendingPause.org_id.in_(org_ids), SendingPause.paused.is_(True)
            )
        )
    )
