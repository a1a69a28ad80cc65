"""The flow SMS step: a text (written in the step or a saved SMS template) sent through the same
path as SMS campaigns. The message goes into the one ledger under the key flow + enrolment +
step (so a batch done twice queues it once) as a marketing SMS; the ledger's send-time checks
apply to it as to a campaign's: the number's suppression (STOP), the SMS consent rule, quiet
hours (it waits for the morning), the daily and per-second limits, the opt-out sentence.

What the step records for each enrolment (its outcome; the flow goes on along `next` in every
case): `sent` (queued, to go now), `deferred` (queued, held until quiet hours end in the
recipient's time zone), `skipped` (no current SMS consent, no phone number, smart sending, or
the template is gone; the reason is in the detail) or `draft` (nothing sent; what would have
been is recorded). Delivery and failure are the message's, in the step's message figures.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from herald.errors import HeraldError
from herald.flows.definition import SendSms
from herald.flows.engine import Batch, Work, step_handler
from herald.flows.steps import event_view, message_key, recently_messaged
from herald.messaging import consent, ledger
from herald.messaging import service as messages
from herald.models import Organization, Profile
from herald.sms import configuration, rules
from herald.sms import service as sms_service
from herald.sms import templates as sms_templates

NO_CONSENT = "no current SMS consent"
TEMPLATE_GONE = "the SMS template was deleted"


def _detail(step: SendSms) -> dict[str, Any]:
    sms = step.sms
    if sms.template_id is not None:
        return {"template_id": str(sms.template_id)}
    return {"body": sms.body}


@step_handler("send_sms")
def send_sms(batch: Batch, works: list[Work]) -> None:
    live: dict[uuid.UUID, list[Work]] = defaultdict(list)
    for work in works:
        step: SendSms = work.current()
        if step.sms.status == "draft":
            batch.advance(work, "next", "draft", _detail(step))
        else:
            live[work.org_id].append(work)
    kicks: list[tuple[uuid.UUID, datetime | None]] = []
    for org_id, group in live.items():
        kicks.extend(_send(batch, org_id, group))
    messages.kick_sends(batch.session, kicks)


def _send(
    batch: Batch, org_id: uuid.UUID, works: list[Work]
) -> list[tuple[uuid.UUID, datetime | None]]:
    session = batch.session
    profile_ids = {w.profile_id for w in works}
    refused = consent.refused_among(session, org_id, "sms", profile_ids)
    recent: dict[int, set[uuid.UUID]] = {}
    for hours in {
        w.current().sms.smart_sending_hours for w in works if w.current().sms.smart_sending
    }:
        recent[hours] = recently_messaged(batch, org_id, profile_ids, hours, "sms")
    saved = sms_templates.bodies(
        session, org_id, {w.current().sms.template_id for w in works} - {None}
    )
    profiles = {
        p.id: p for p in session.scalars(sa.select(Profile).where(Profile.id.in_(profile_ids)))
    }
    settings = configuration.get_row(session, org_id)
    organization = session.get(Organization, org_id)
    assert organization is not None
    by_flow: dict[uuid.UUID, list[tuple[Work, sms_service.SmsRequest, datetime | None]]] = (
        defaultdict(list)
    )
    for work in works:
        step: SendSms = work.current()
        sms = step.sms
        if work.profile_id in refused:
            batch.advance(work, "next", "skipped", {"reason": NO_CONSENT})
            continue
        if sms.smart_sending and work.profile_id in recent[sms.smart_sending_hours]:
            reason = f"smart sending ({sms.smart_sending_hours} h)"
            batch.advance(work, "next", "skipped", {"reason": reason})
            continue
        body, media = sms.body, list(sms.media_urls)
        if sms.template_id is not None:
            template = saved.get(sms.template_id)
            if template is None:
                batch.advance(work, "next", "skipped", {"reason": TEMPLATE_GONE})
                continue
            body, media = template.body, media or list(template.media_urls or [])
        assert body is not None
        profile = profiles.get(work.profile_id)
        quiet = None
        if settings is not None and profile is not None and profile.phone:
            quiet = rules.quiet_hours_end(settings, profile, profile.phone, organization)
        request = sms_service.SmsRequest(
            idempotency_key=message_key(work.flow_id, work.id, step.id),
            body=body,
            to_profile_id=work.profile_id,
            media_urls=media,
            event=event_view(work.trigger),
            send_after=quiet,
        )
        by_flow[work.flow_id].append((work, request, quiet))
    kicks: list[tuple[uuid.UUID, datetime | None]] = []
    for flow_id, items in by_flow.items():
        outcomes = sms_service.queue_sms_many(
            session,
            org_id,
            [request for _work, request, _quiet in items],
            source="flow",
            source_id=flow_id,
            marketing=True,
        )
        for (work, _request, quiet), outcome in zip(items, outcomes, strict=True):
            detail = _detail(work.current())
            if isinstance(outcome, HeraldError):
                # No phone number (or the profile is gone): skipped, and the flow goes on.
                batch.advance(work, "next", "skipped", {**detail, "reason": outcome.message})
                continue
            if quiet is not None:
                detail = {**detail, "until": quiet.isoformat(), "reason": "quiet hours"}
            batch.advance(
                work,
                "next",
                "deferred" if quiet is not None else "sent",
                detail,
                message_id=outcome.message_id,
            )
            if outcome.status == ledger.QUEUED:
                kicks.append((outcome.message_id, outcome.send_after))
    return kicks
