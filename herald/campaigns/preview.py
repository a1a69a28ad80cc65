"""Campaign previews and test sends: a campaign's content (or one A/B variant's) rendered for a
profile, and sent to a few addresses outside the campaign."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from herald.campaigns.fanout import _queue_for, _variant, recipient_content
from herald.campaigns.service import get_campaign
from herald.errors import InvalidInput
from herald.messaging import service as messages
from herald.models import Campaign, Message
from herald.templates import service as templates
from herald.templates.rendering import RenderedEmail, TemplateParts, parts_of


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
