"""How the ledger sends an SMS: the checks and the preparation of a batch of `messages` rows
whose channel is "sms". The claim, the hand-over, the record, the retries and the sweep are the
ledger's own (herald.email.service), the same as for email; this module is the channel's part.

At send time each message is checked again: the number's suppression (STOP), the person's
SMS consent for marketing (herald.messaging.consent, the one rule), quiet hours and the daily
limit (the message waits, never dropped), then rendered: personalization in the template
sandbox, links shortened onto Herald's base URL with click tracking, the opt-out sentence.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import get_database
from herald.email.providers.base import NotYet, PermanentSendError, SendResult
from herald.messaging import consent, ledger, suppression
from herald.models import Message, Organization, Profile, SmsSettings
from herald.sms import configuration, links, rules
from herald.sms.service import opt_out
from herald.sms.twilio import OptedOut, OutgoingSms, TwilioClient, shared_http
from herald.templates.rendering import build_context, render_text

OPT_OUT_SENTENCE = "Reply STOP to opt out."
# A body that already tells the reader how to stop needs no second sentence.
_MENTIONS_STOP = re.compile(r"\b(stop|opt[\s-]?out|unsubscribe)\b", re.IGNORECASE)


class ThrottledTwilio:
    """The ledger's provider for SMS: waits for the organization's and the sender's
    per-second limits, then calls Twilio."""

    name = "twilio"

    def __init__(self, client: TwilioClient, settings: SmsSettings) -> None:
        self.client = client
        self.settings = settings

    def send(self, sms: OutgoingSms, /) -> SendResult:
        rules.wait_for_slot(sms.org_id, sms.from_number or sms.messaging_service_sid, self.settings)
        try:
            return self.client.send(sms)
        except OptedOut:
            # 21610: the person replied STOP at the carrier. Recorded at once, in a transaction
            # of its own (sending runs outside any); the message then fails with the code.
            with get_database().transaction() as session:
                opt_out(session, sms.org_id, sms.to, method="carrier", source="twilio:21610")
            raise


@dataclass
class _OrgSms:
    organization: Organization
    settings: SmsSettings | None
    provider: ThrottledTwilio | None
    suppressed: set[str]
    refused: set[uuid.UUID]


class SmsBatch:
    """A batch's SMS: what they share is looked up once (profiles, each organization's
    settings, suppressions and consent)."""

    def __init__(self, session: Session, messages: list[Message]) -> None:
        self.session = session
        profile_ids = {m.profile_id for m in messages if m.profile_id is not None}
        self.profiles: dict[uuid.UUID, Profile] = (
            {
                p.id: p
                for p in session.scalars(sa.select(Profile).where(Profile.id.in_(profile_ids)))
            }
            if profile_ids
            else {}
        )
        self.orgs: dict[uuid.UUID, _OrgSms] = {}
        by_org: dict[uuid.UUID, list[Message]] = {}
        for message in messages:
            by_org.setdefault(message.org_id, []).append(message)
        for org_id, group in by_org.items():
            organization = session.get(Organization, org_id)
            assert organization is not None
            settings = configuration.get_row(session, org_id)
            credentials = configuration.credentials(settings)
            provider = None
            if settings is not None and credentials is not None:
                provider = ThrottledTwilio(
                    TwilioClient(credentials, shared_http(credentials)), settings
                )
            marketing_profiles = {m.profile_id for m in group if m.marketing and m.profile_id}
            self.orgs[org_id] = _OrgSms(
                organization=organization,
                settings=settings,
                provider=provider,
                suppressed=suppression.suppressed_among(
                    session, org_id, "sms", {m.to_address for m in group if m.to_address}
                ),
                refused=consent.refused_among(session, org_id, "sms", marketing_profiles),
            )

    def blocked(self, session: Session, message: Message) -> tuple[str, str] | None:
        """Suppressed: the number opted out (STOP) or is on the list, which stops every SMS,
        as carriers do. Skipped: a marketing SMS to a person without current SMS consent."""
        if not message.to_address:
            return ledger.SKIPPED, "no phone number (the profile was erased)"
        org = self.orgs[message.org_id]
        if message.to_address in org.suppressed:
            return ledger.SUPPRESSED, "the number is on the suppression list"
        if message.marketing and (message.profile_id is None or message.profile_id in org.refused):
            return ledger.SKIPPED, "no current SMS consent"
        return None

    def prepare(self, message: Message, attempt: int) -> Any:
        from herald.email.batch import Prepared

        org = self.orgs[message.org_id]
        settings, provider = org.settings, org.provider
        if settings is None or provider is None or not configuration.is_configured(settings):
            raise PermanentSendError(
                "SMS is not set up: add Twilio's credentials in Settings → SMS"
            )
        profile = self.profiles.get(message.profile_id) if message.profile_id else None
        if message.marketing:
            until = rules.quiet_hours_end(settings, profile, message.to_address, org.organization)
            if until is not None:
                raise NotYet(until, "quiet hours in the recipient's time zone")
        until = rules.take_daily(settings)
        if until is not None:
            raise NotYet(until, "the organization's daily SMS limit is reached")
        content = message.content or {}
        context = build_context(
            profile=profile,
            organization=org.organization,
            settings=None,
            data=content.get("data") or {},
            event=content.get("event") or {},
        )
        body = render_text(content.get("body") or "", context, "body").strip()
        if message.marketing:
            body = links.shorten(self.session, message, body)
            if settings.require_opt_out and not _MENTIONS_STOP.search(body):
                body = f"{body}\n{OPT_OUT_SENTENCE}"
        if not body:
            raise PermanentSendError("the message is empty once personalized")
        sender = (
            None if settings.messaging_service_sid else pick_sender(settings, message.to_address)
        )
        sms = OutgoingSms(
            message_id=message.id,
            org_id=message.org_id,
            idempotency_key=message.idempotency_key,
            to=message.to_address,
            body=body,
            from_number=sender,
            messaging_service_sid=settings.messaging_service_sid,
            status_callback=status_callback_url(message),
            media_urls=tuple(content.get("media_urls") or ()),
        )
        return Prepared(
            email=sms,
            provider=provider,
            attempt=attempt,
            subject=body,
            from_address=sender or settings.messaging_service_sid or "",
        )


def pick_sender(settings: SmsSettings, to: str) -> str | None:
    """The same sender number for the same recipient every time (a conversation stays on one
    number), spread over the organization's numbers."""
    numbers = list(settings.sender_numbers or [])
    if not numbers:
        return None
    return numbers[int(uuid.uuid5(uuid.NAMESPACE_OID, to).int % len(numbers))]


def status_callback_url(message: Message) -> str:
    path = configuration.webhook_url(configuration.STATUS_PATH, message.org_id)
    return f"{path}?message_id={message.id}"
