"""Step 1 of a send: claim the rows, ask the send gates, re-check suppression and consent, render
each message and build its MIME, in one transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.email import failover, guard, mime
from herald.email.batch import MAX_ATTEMPTS, STALE_AFTER, TRANSACTIONAL_BLOCKING_REASONS, Prepared
from herald.email.gates import SendVerdict, _apply_gate, _send_gates
from herald.email.providers import (
    EmailProvider,
    NotYet,
    OutgoingEmail,
    PermanentSendError,
    get_provider,
)
from herald.email.recording import _fail, _retry, _wait
from herald.messaging import consent, ledger, suppression, tracking
from herald.models import EmailSettings, EmailTemplate, Message, Organization, Profile
from herald.security import decrypt
from herald.settings import get_settings
from herald.templates.rendering import (
    TemplateError,
    TemplateParts,
    build_context,
    parts_of,
    render_email,
)
from herald.worker import claim_many

logger = logging.getLogger(__name__)


def claim_and_prepare(session: Session, message_id: uuid.UUID) -> Prepared | str:
    """Step 1 for one message: the caller commits what this did before anything is sent."""
    return claim_and_prepare_many(session, [message_id])[message_id]


def claim_and_prepare_many(
    session: Session, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Prepared | str]:
    """Step 1 for a batch: each message ready to hand over, or what became of it ("held",
    "skipped", "suppressed", "failed", "retry", or why it was not taken: "missing", "done",
    "not-claimed"). The caller commits before anything is sent."""
    ids = list(dict.fromkeys(message_ids))
    now = utcnow()
    ready = sa.or_(Message.send_after.is_(None), Message.send_after <= now)
    claimed = claim_many(
        session,
        Message,
        ids,
        stale_after=STALE_AFTER,
        pending=ledger.QUEUED,
        running=ledger.SENDING,
        ready=ready,
    )
    outcomes: dict[uuid.UUID, Prepared | str] = {}
    if len(claimed) < len(ids):
        outcomes.update(_not_claimed(session, [i for i in ids if i not in claimed]))
    if not claimed:
        return outcomes
    loaded = {
        m.id: m
        for m in session.scalars(
            sa.select(Message)
            .where(Message.id.in_(claimed))
            .execution_options(populate_existing=True)
        )
    }
    messages = [loaded[i] for i in ids if i in loaded]
    sendable = []
    verdicts: dict[tuple[str, uuid.UUID | None], SendVerdict] = {}
    # The deliverability guard holds an organization's marketing email while it is paused.
    paused = guard.paused_among(session, {m.org_id for m in messages if m.marketing})
    for message in messages:
        if message.marketing and message.org_id in paused:
            outcomes[message.id] = _apply_gate(session, message, "hold") or "held"
            message.error = guard.HELD  # what a resume releases at once
            continue
        gate = _send_gates.get(message.source)
        if gate is not None:
            key = (message.source, message.source_id)
            if key not in verdicts:
                verdicts[key] = gate(session, message)
            held = _apply_gate(session, message, verdicts[key])
            if held is not None:
                outcomes[message.id] = held
                continue
        sendable.append(message)
    ledger.add_events(
        session,
        ledger.SENDING,
        [(m.org_id, m.id, {"attempt": m.attempts}) for m in sendable],
        at=now,
    )
    by_channel: dict[str, list[Message]] = {}
    for message in sendable:
        by_channel.setdefault(message.channel, []).append(message)
    for channel, group in by_channel.items():
        checks, preparer = _channel_batch(session, channel, group)
        for message in group:
            outcomes[message.id] = _check_and_prepare(session, message, checks, preparer)
    session.flush()
    return outcomes


class SendChecks(Protocol):
    def blocked(self, session: Session, message: Message) -> tuple[str, str] | None: ...


class Preparer(Protocol):
    def prepare(self, message: Message, attempt: int) -> Prepared: ...


def _channel_batch(
    session: Session, channel: str, messages: list[Message]
) -> tuple[SendChecks, Preparer]:
    """A channel's checks and preparation for a batch of its messages: one ledger, a provider
    per channel (DESIGN: "new channels add a provider, not a second pipeline")."""
    if channel == "sms":
        from herald.sms.sending import SmsBatch  # the SMS channel builds on this module

        batch = SmsBatch(session, messages)
        return batch, batch
    return _SendChecks(session, messages), _Preparer(session, messages)


def _not_claimed(session: Session, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    statuses = dict(
        session.execute(
            sa.select(Message.id, Message.status).where(Message.id.in_(message_ids))
        ).all()
    )
    return {
        message_id: (
            "missing"
            if message_id not in statuses
            else "done"
            if statuses[message_id] in ledger.FINAL_STATUSES
            else "not-claimed"
        )
        for message_id in message_ids
    }


def _check_and_prepare(
    session: Session, message: Message, checks: SendChecks, preparer: Preparer
) -> Prepared | str:
    attempt = message.attempts
    if attempt > MAX_ATTEMPTS:
        _fail(session, message, message.error or f"gave up after {MAX_ATTEMPTS} attempts")
        return ledger.FAILED
    blocked = checks.blocked(session, message)
    if blocked is not None:
        status, reason = blocked
        message.error = None
        ledger.set_status(session, message, status, data={"reason": reason})
        return status
    try:
        return preparer.prepare(message, attempt)
    except NotYet as wait:
        _wait(session, message, wait)
        return "held"
    except (TemplateError, PermanentSendError) as exc:
        _fail(session, message, str(exc))
        return ledger.FAILED
    except Exception as exc:
        logger.exception("could not prepare message %s", message.id)
        _retry(session, message, attempt, repr(exc))
        return "retry"


class _SendChecks:
    """Suppression and consent, looked up for a whole batch at once. Marketing respects every
    suppression and consent; transactional email only hard bounces, complaints and manual
    suppressions."""

    def __init__(self, session: Session, messages: list[Message]) -> None:
        marketing = [m for m in messages if m.marketing and m.to_address]
        by_org: dict[uuid.UUID, list[Message]] = {}
        for message in marketing:
            by_org.setdefault(message.org_id, []).append(message)
        self.suppressed: set[tuple[uuid.UUID, str]] = set()
        self.withdrawn: set[uuid.UUID] = set()
        for org_id, group in by_org.items():
            addresses = {m.to_address for m in group}
            self.suppressed.update(
                (org_id, address)
                for address in suppression.suppressed_among(session, org_id, "email", addresses)
            )
            profile_ids = {m.profile_id for m in group if m.profile_id is not None}
            self.withdrawn.update(consent.refused_among(session, org_id, "email", profile_ids))

    def blocked(self, session: Session, message: Message) -> tuple[str, str] | None:
        """Whether the message must not go out now: suppressed (the address is on the list) or
        skipped (the person withdrew consent)."""
        if not message.to_address:
            return ledger.SKIPPED, "no address (the profile was erased)"
        if message.marketing:
            if (message.org_id, message.to_address) in self.suppressed:
                return ledger.SUPPRESSED, "the address is on the suppression list"
            if message.profile_id in self.withdrawn:
                return ledger.SKIPPED, "the profile withdrew consent to marketing email"
            return None
        found = suppression.find(session, message.org_id, "email", message.to_address)
        if found is not None and found.reason in TRANSACTIONAL_BLOCKING_REASONS:
            return ledger.SUPPRESSED, f"the address is suppressed ({found.reason})"
        return None


def fallback_from_email() -> str:
    host = get_settings().base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    if "." not in host or host.replace(".", "").isdigit():
        host = "localhost.localdomain"
    return f"no-reply@{host}"


class _Preparer:
    """Renders a batch's messages. What messages share is looked up once: their profiles in one
    query, each template, and per organization its row, settings, provider and DKIM key (the
    provider's configuration and the key are decrypted once, not once a message)."""

    def __init__(self, session: Session, messages: list[Message]) -> None:
        self.session = session
        profile_ids = {m.profile_id for m in messages if m.profile_id is not None}
        self.profiles = (
            {
                p.id: p
                for p in session.scalars(sa.select(Profile).where(Profile.id.in_(profile_ids)))
            }
            if profile_ids
            else {}
        )
        self.senders: dict[uuid.UUID, _Sender] = {}
        # Held here: the session's identity map keeps only what something else refers to.
        self.templates: dict[uuid.UUID, EmailTemplate | None] = {}
        self.parts: dict[uuid.UUID, TemplateParts] = {}

    def _template(self, template_id: uuid.UUID | None) -> EmailTemplate | None:
        if template_id is None:
            return None
        if template_id not in self.templates:
            template = self.session.get(EmailTemplate, template_id)
            self.templates[template_id] = template
            if template is not None:
                self.parts[template_id] = parts_of(template)
        return self.templates[template_id]

    def _sender(self, org_id: uuid.UUID) -> _Sender:
        sender = self.senders.get(org_id)
        if sender is None:
            organization = self.session.get(Organization, org_id)
            assert organization is not None
            settings_row = self.session.get(EmailSettings, org_id)
            sender = _Sender(
                organization=organization,
                settings=settings_row,
                provider=failover.router_for(self.session, org_id) or get_provider(settings_row),
                dkim_key=dkim_key(settings_row),
            )
            self.senders[org_id] = sender
        return sender

    def prepare(self, message: Message, attempt: int) -> Prepared:
        content = message.content or {}
        template = self._template(message.template_id)
        if template is not None:
            parts = self.parts[template.id]
            if content.get("subject"):  # a campaign's subject instead of its template's
                parts = replace(parts, subject=content["subject"])
        elif "html" in content:
            parts = TemplateParts(
                subject=content.get("subject") or "",
                preheader=None,
                html=content["html"],
                text=content.get("text"),
            )
        else:
            raise PermanentSendError("the message's template was deleted before it was sent")
        sender = self._sender(message.org_id)
        settings_row, organization = sender.settings, sender.organization
        if message.marketing and not (settings_row and (settings_row.postal_address or "").strip()):
            # CAN-SPAM: marketing email carries the sender's postal address; without one it stays.
            raise PermanentSendError(
                "marketing email needs the organization's postal address (Settings → Email)"
            )
        profile = self.profiles.get(message.profile_id) if message.profile_id else None
        context = build_context(
            profile=profile,
            organization=organization,
            settings=settings_row,
            data=content.get("data") or {},
            event=content.get("event") or {},
            unsubscribe_url=tracking.unsubscribe_url(message.id),
            preferences_url=tracking.preferences_url(message.id),
        )
        rendered = render_email(parts, context)
        html = tracking.prepare_html(
            rendered.html, message.id, track_opens=message.marketing, track_clicks=message.marketing
        )
        # A campaign's sender overrides its template's.
        from_email = (
            content.get("from_email")
            or (template.from_email if template else None)
            or (settings_row.default_from_email if settings_row else None)
            or fallback_from_email()
        )
        from_name = (
            content.get("from_name")
            or (template.from_name if template else None)
            or (settings_row.default_from_name if settings_row else None)
            or organization.name
        )
        reply_to = (template.reply_to if template else None) or (
            settings_row.default_reply_to if settings_row else None
        )
        headers: dict[str, str] = {}
        if message.marketing:
            headers.update(
                tracking.list_unsubscribe_headers(
                    message.id, tracking.unsubscribe_mailbox(from_email)
                )
            )
        to_name = None
        if profile is not None:
            to_name = " ".join(p for p in (profile.first_name, profile.last_name) if p) or None
        parts_for_mime = mime.MimeParts(
            message_id=message.id,
            from_email=from_email,
            from_name=from_name,
            to_email=message.to_address,
            to_name=to_name,
            reply_to=reply_to,
            subject=rendered.subject,
            html=html,
            text=rendered.text,
            headers=headers,
        )
        raw = mime.render_mime(parts_for_mime, sender.dkim_key)
        email = OutgoingEmail(
            message_id=message.id,
            org_id=message.org_id,
            idempotency_key=message.idempotency_key,
            envelope_from=mime.ascii_address(from_email),
            envelope_to=[mime.ascii_address(message.to_address)],
            mime=raw,
            unsure_provider_id=message.unsure_provider_id,
            parts=parts_for_mime,
        )
        return Prepared(
            email=email,
            provider=sender.provider,
            attempt=attempt,
            subject=rendered.subject,
            from_address=mime.display_address(from_name, from_email),
        )


@dataclass(frozen=True)
class _Sender:
    organization: Organization
    settings: EmailSettings | None
    provider: EmailProvider
    dkim_key: mime.DkimKey | None


def dkim_key(settings_row: EmailSettings | None) -> mime.DkimKey | None:
    if settings_row is None:
        return None
    if not (settings_row.dkim_domain and settings_row.dkim_selector):
        return None
    if not settings_row.dkim_private_key:
        return None
    return mime.DkimKey(
        domain=settings_row.dkim_domain,
        selector=settings_row.dkim_selector,
        private_key_pem=decrypt(settings_row.dkim_private_key),
    )
