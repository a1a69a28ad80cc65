"""A campaign's figures, overall and per A/B variant, and the conversions attributed to it.

The message figures are analytics' measures (herald.analytics.measures), the same code as the
reports; conversions are credited by the one attribution rule (herald.messaging.attribution),
with the campaign's `conversion_metric` (default "Placed Order") and the organization's window.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.analytics.settings import attribution_settings
from herald.campaigns.statuses import RECIPIENT_CANCELLED, SKIPPED
from herald.messaging import attribution
from herald.models import Campaign, CampaignRecipient, Message

ALL_RECIPIENTS = "all"


@dataclass(frozen=True)
class Conversion:
    profile_id: uuid.UUID
    variant: str | None
    value: float


@dataclass
class Figures:
    recipients: int = 0
    skipped: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opens_unique: int = 0
    opens_total: int = 0
    clicks_unique: int = 0
    clicks_total: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    conversions: int = 0
    converters: int = 0
    revenue: float = 0.0
    # Revenue per converting recipient (profile), for the A/B revenue test.
    revenue_by_profile: dict[uuid.UUID, float] = field(default_factory=dict)
    # Recipients by status (the `counts` of the campaign's stats).
    statuses: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        figures = dict(self.__dict__)
        figures.pop("revenue_by_profile")
        figures.pop("statuses")
        figures["revenue"] = round(self.revenue, 2)
        return figures


def _campaign_messages(campaign: Campaign) -> sa.ColumnElement[bool]:
    return sa.and_(
        Message.org_id == campaign.org_id,
        Message.source == "campaign",
        Message.source_id == campaign.id,
    )


def attributed_conversions(session: Session, campaign: Campaign) -> list[Conversion]:
    """The conversions whose last touch was this campaign (herald.messaging.attribution), with
    the recipient's variant."""
    settings = attribution_settings(session, campaign.org_id)
    credited = attribution.attributed_conversions(
        session,
        campaign.org_id,
        _campaign_messages(campaign),
        metric=campaign.conversion_metric,
        window=settings.window,
    )
    if not credited:
        return []
    variants = dict(
        session.execute(
            sa.select(CampaignRecipient.message_id, CampaignRecipient.variant).where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.message_id.in_({c.message_id for c in credited}),
            )
        ).all()
    )
    return [Conversion(c.profile_id, variants.get(c.message_id), c.value) for c in credited]


def _add_conversions(figures: Figures, conversions: Iterable[Conversion]) -> None:
    for conversion in conversions:
        figures.conversions += 1
        figures.revenue += conversion.value
        figures.revenue_by_profile[conversion.profile_id] = (
            figures.revenue_by_profile.get(conversion.profile_id, 0.0) + conversion.value
        )
    figures.converters = len(figures.revenue_by_profile)


# The campaign's figures taken from analytics' measures, by the same names.
_MEASURED = (
    "sent",
    "delivered",
    "bounced",
    "opens_unique",
    "opens_total",
    "clicks_unique",
    "clicks_total",
    "unsubscribes",
    "complaints",
)


def campaign_figures(session: Session, campaign: Campaign) -> dict[str | None, Figures]:
    """Figures per variant (None: recipients without one) and for ALL_RECIPIENTS."""
    by_variant: dict[str | None, Figures] = defaultdict(Figures)
    recipients = session.execute(
        sa.select(CampaignRecipient.variant, CampaignRecipient.status, sa.func.count())
        .where(CampaignRecipient.campaign_id == campaign.id)
        .group_by(CampaignRecipient.variant, CampaignRecipient.status)
    )
    for variant, status, count in recipients:
        figures = by_variant[variant]
        figures.recipients += int(count)
        figures.statuses[status] = figures.statuses.get(status, 0) + int(count)
        if status in (SKIPPED, RECIPIENT_CANCELLED):
            figures.skipped += int(count)
    keyed = sa.select(
        CampaignRecipient.message_id.label("message_id"), CampaignRecipient.variant
    ).where(
        CampaignRecipient.campaign_id == campaign.id,
        CampaignRecipient.message_id.is_not(None),
    )
    measured_by_variant = measures.message_measures(session, campaign.org_id, keyed)
    for (variant,), measured in measured_by_variant.items():
        figures = by_variant[variant]
        for name in _MEASURED:
            setattr(figures, name, getattr(measured, name))
    conversions = attributed_conversions(session, campaign)
    grouped: dict[str | None, list[Conversion]] = defaultdict(list)
    for conversion in conversions:
        grouped[conversion.variant].append(conversion)
    for variant, own in grouped.items():
        _add_conversions(by_variant[variant], own)
    total = Figures()
    for figures in by_variant.values():
        for name, value in figures.public().items():
            if name not in ("conversions", "converters", "revenue"):
                setattr(total, name, getattr(total, name) + value)
        for status, count in figures.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
    _add_conversions(total, conversions)
    result: dict[str | None, Figures] = dict(by_variant)
    result[ALL_RECIPIENTS] = total
    return result
