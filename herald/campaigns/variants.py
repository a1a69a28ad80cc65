"""A/B tests at run time: dealing out the test pool when the snapshot ends, measuring each
variant for the decision, and when the rest of the audience gets the winner.

The statistics are in abtest.py (pure); the decision's transaction is in service.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.campaigns import abtest, stats
from herald.campaigns.statuses import PENDING, WAITING
from herald.db import utcnow
from herald.models import Campaign, CampaignRecipient

# Recipient ids per UPDATE when dealing out the pool (far below SQLite's parameter limit).
_ID_CHUNK = 5000


def settings(campaign: Campaign) -> dict[str, Any]:
    assert campaign.ab_test is not None
    return campaign.ab_test


def _send_at(campaign: Campaign, variant: dict[str, Any]) -> datetime | None:
    """A send-time variant's moment: its delay after the campaign started."""
    delay = variant.get("send_delay_minutes")
    if delay is None or campaign.started_at is None:
        return None
    return campaign.started_at + timedelta(minutes=int(delay))


def deal_test_pool(session: Session, campaign: Campaign, now: datetime) -> dict[str, int]:
    """The snapshot is complete: the test pool (pool_percent of the waiting recipients, chosen by
    a hash of campaign and profile) is dealt out evenly to the variants and made pending; the
    others wait for the winner. Sets when the test will be decided. Returns each variant's
    size."""
    test = settings(campaign)
    waiting = session.execute(
        sa.select(CampaignRecipient.id, CampaignRecipient.profile_id).where(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status == WAITING
        )
    ).all()
    row_of = {profile_id: row_id for row_id, profile_id in waiting}
    keys = [variant["key"] for variant in test["variants"]]
    assignment = abtest.split_test_pool(
        row_of, keys, test.get("pool_percent", 20) / 100, seed=campaign.id
    )
    members: dict[str, list[int]] = {key: [] for key in keys}
    for profile_id, key in assignment.items():
        if key is not None:
            members[key].append(row_of[profile_id])
    for variant in test["variants"]:
        ids = members[variant["key"]]
        values: dict[str, Any] = {"status": PENDING, "variant": variant["key"], "updated_at": now}
        send_at = _send_at(campaign, variant)
        if send_at is not None:
            values["scheduled_for"] = send_at
        for start in range(0, len(ids), _ID_CHUNK):
            session.execute(
                sa.update(CampaignRecipient)
                .where(CampaignRecipient.id.in_(ids[start : start + _ID_CHUNK]))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
    latest_delay = max((v.get("send_delay_minutes") or 0) for v in test["variants"])
    campaign.ab_decide_at = now + timedelta(
        hours=int(test.get("duration_hours", 4)), minutes=int(latest_delay)
    )
    return {key: len(ids) for key, ids in members.items()}


def variant_results(session: Session, campaign: Campaign) -> list[abtest.VariantResult]:
    """What each variant's test group did, on the test's metric. A recipient counts once their
    message has been sent."""
    test = settings(campaign)
    metric = test.get("metric", "open_rate")
    figures = stats.campaign_figures(session, campaign)
    results = []
    for variant in test["variants"]:
        own = figures.get(variant["key"]) or stats.Figures()
        if metric == "open_rate":
            successes = own.opens_unique
        elif metric == "click_rate":
            successes = own.clicks_unique
        else:
            successes = own.converters
        sent = max(own.sent, successes)
        results.append(
            abtest.VariantResult(
                variant=variant["key"],
                recipients=sent,
                successes=successes,
                revenue_values=list(own.revenue_by_profile.values())
                if metric == "revenue_per_recipient"
                else None,
            )
        )
    return results


def decide(session: Session, campaign: Campaign, now: datetime | None = None) -> abtest.Decision:
    """Decide the test and record the outcome on the campaign (the caller holds its lock)."""
    test = settings(campaign)
    decision = abtest.decide(
        variant_results(session, campaign),
        test.get("metric", "open_rate"),
        confidence=float(test.get("confidence", abtest.DEFAULT_CONFIDENCE)),
        fallback=test.get("fallback", "leader"),
        default_variant=test.get("default_variant"),
    )
    campaign.ab_result = {
        "decided_at": (now or utcnow()).isoformat(),
        "winner": decision.winner,
        "significant": decision.declared,
        "reason": decision.reason,
        "leader": decision.leader,
        "values": decision.values,
        "p_values": decision.p_values,
    }
    return decision


def winner_send_at(campaign: Campaign, winner: str, now: datetime) -> datetime | None:
    """When the rest get the winner: at once, or for a send-time variant its time of day (the
    next time it comes round)."""
    variant = next(v for v in settings(campaign)["variants"] if v["key"] == winner)
    moment = _send_at(campaign, variant)
    if moment is None:
        return None
    while moment < now:
        moment += timedelta(days=1)
    return moment
