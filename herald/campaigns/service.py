"""Campaigns: reading and saving them (create, update, delete, duplicate) and the checks on
what is saved. No HTTP here.

The rest of a campaign's life is split by concern: status changes in `herald.campaigns.lifecycle`,
the audience snapshot in `herald.campaigns.snapshot`, the fan-out into the message ledger and
completion in `herald.campaigns.fanout`, previews and test sends in `herald.campaigns.preview`,
recipients and stats in `herald.campaigns.recipients`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.campaigns.statuses import DRAFT, PAUSED, SENDING
from herald.errors import Conflict, FieldError, InvalidInput, NotFound
from herald.models import Campaign, EmailTemplate, Segment
from herald.templates.rendering import TemplateError, check_text
from herald.tenancy.scope import check_name_free, get_scoped, scoped

logger = logging.getLogger(__name__)

MAX_SMART_SENDING_HOURS = 24 * 7

NAME_TAKEN = "another campaign has this name"


def get_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return get_scoped(session, Campaign, org_id, campaign_id)


def list_campaigns(session: Session, org_id: uuid.UUID) -> list[Campaign]:
    return list(
        session.scalars(
            scoped(Campaign, org_id).order_by(Campaign.created_at.desc(), Campaign.id.desc())
        )
    )


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
        check_name_free(session, Campaign, org_id, fields["name"], campaign.id, NAME_TAKEN)
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
