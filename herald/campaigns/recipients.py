"""A campaign's recipients (listed, counted by status) and its stats."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.campaigns import stats as campaign_stats
from herald.campaigns.service import get_campaign
from herald.errors import InvalidInput
from herald.models import CampaignRecipient
from herald.pagination import decode_cursor, encode_cursor


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
    the stats' own measures (herald.analytics.measures)."""
    return {
        message_id: {
            "opened": figures.opens_unique > 0,
            "clicked": figures.clicks_unique > 0,
            "unsubscribed": figures.unsubscribes > 0,
        }
        for message_id, figures in measures.per_message(session, org_id, message_ids).items()
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
