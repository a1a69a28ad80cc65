"""Sending messages: claim their rows, check each may still be sent, render them, hand them to
the organization's provider, record what happened. A batch of messages (a campaign's kick
carries up to BATCH_SIZE) costs a few statements, not a few per message; one message is a batch
of one.

The order is what makes a crash harmless (DESIGN invariant 3):

1. One transaction claims the rows (queued -> sending, or a sending row whose worker stopped
   heartbeating) in one compare-and-set UPDATE, asks each source's send gate once (a paused
   campaign holds its messages, a cancelled one skips them), re-checks suppression and consent
   (they may have changed since the messages were queued), renders each message and builds its
   MIME, and commits.
2. The provider is called for each message outside any transaction (one pooled SMTP connection
   serves the whole batch).
3. A new transaction records the results, in bulk: sent, back to queued with a delay
   (transient error), or failed (permanent error, or too many attempts). A long batch records
   what it has done every RECORD_EVERY, so a crash re-sends little.

A worker that dies in step 2 leaves its rows `sending`; once their heartbeat is older than
`STALE_AFTER` the sweep kicks them again and another worker claims them. The provider gets the
same message id and idempotency key, so the outbox stores each once; over SMTP, which has no
idempotency, a re-sent copy carries the same Message-ID header.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.email import failover, guard, mime
from herald.email.providers import (
    EmailProvider,
    NotYet,
    OutgoingEmail,
    PermanentSendError,
    SendError,
    SendResult,
    get_provider,
)
from herald.messaging import consent, ledger, suppression, tracking
from herald.messaging.service import kick_sends
from herald.models import EmailSettings, EmailTemplate, Message, Organization, Profile
from herald.observability.metrics import MESSAGES
from herald.security import decrypt
from herald.settings import get_settings
from herald.templates.rendering import (
    TemplateError,
    TemplateParts,
    build_context,
    parts_of,
    render_email,
)
from herald.worker import abandoned, claim_many, enqueue_after_commit

logger = logging.getLogger(__name__)

# Messages a send task takes at most (one claim, one render loop, one SMTP connection, one
# record). Larger batches cost fewer statements a message; smaller ones spread a campaign over
# more worker threads and hold fewer messages in `sending` at a time.
BATCH_SIZE = 200
# A batch still sending records the outcomes it has after this long, so a crash re-sends little.
RECORD_EVERY = timedelta(seconds=1)
# A sending worker refreshes the heartbeats of its messages this often...
HEARTBEAT_INTERVAL = timedelta(seconds=30)
# ...so a message `sending` with an older heartbeat lost its worker.
STALE_AFTER = timedelta(minutes=5)
# A queued message the sweep finds this long past its time lost its kick.
KICK_GRACE = timedelta(seconds=60)
# Attempts at one message (claims, including those after a crash) before it fails for good.
MAX_ATTEMPTS = 5
# Wait before the next attempt after a transient error, by attempt number (the last repeats).
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
# Suppressions that stop transactional email too: sending there cannot work or was asked not to
# be done at all. An unsubscribe only stops marketing.
TRANSACTIONAL_BLOCKING_REASONS = frozenset({"hard_bounce", "complaint", "manual"})
MAX_ERROR_LENGTH = 2000
# A campaign message held back because its campaign is paused is looked at again this much later
# (resuming the campaign kicks its messages at once).
HOLD_RECHECK = timedelta(minutes=5)


class Outgoing(Protocol):
    """A message ready for its channel's provider (an email's MIME, an SMS's body)."""

    @property
    def message_id(self) -> uuid.UUID: ...

    @property
    def org_id(self) -> uuid.UUID: ...


class ChannelProvider(Protocol):
    """Any channel's provider: hands one ready message over, or raises a SendError."""

    name: str

    def send(self, outgoing: Any, /) -> SendResult: ...


@dataclass(frozen=True)
class Prepared:
    # The ready message (named `email` from when email was the only channel).
    email: Outgoing
    provider: ChannelProvider
    attempt: int
    # Recorded on the message with its outcome.
    subject: str
    from_address: str


# What handing a message over came to: sent (with the provider's answer), or an error to retry
# later or to fail with (and the provider's refusal, when it gave one).
Handed = (
    tuple[Literal["sent"], SendResult]
    | tuple[Literal["retry", "failed"], str]
    | tuple[Literal["retry", "failed"], str, SendError]
)


def retry_delay(attempt: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempt, 1), len(RETRY_DELAYS)) - 1]


def send_message(database: Database, message_id: uuid.UUID) -> str:
    """Claim, check, render and send one message; returns what happened ("sent", "retry",
    "failed", "suppressed", "skipped", or why nothing was done). Safe to call any number of
    times for the same message."""
    return send_messages(database, [message_id])[message_id]


def send_messages(database: Database, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """`send_message` for a batch: what happened to each message, by id."""
    with database.transaction() as session:
        prepared = claim_and_prepare_many(session, message_ids)
    outcomes = {mid: p for mid, p in prepared.items() if isinstance(p, str)}
    ready = [p for p in prepared.values() if isinstance(p, Prepared)]
    if ready:
        outcomes.update(_hand_over_and_record(database, ready))
    return outcomes


def _hand_over(database: Database, chunk: list[Prepared]) -> list[Handed]:
    """The one place the send path calls providers: a chunk of messages with the same provider
    (the organization's failover list, or its single provider)."""
    # An SMS provider takes the same calls as an email provider (`send`, or `send_batch`), so
    # `send_many` hands its chunk over as well; only email has a failover list (a Router).
    emails = cast("list[OutgoingEmail]", [p.email for p in chunk])
    outcomes = failover.hand_over(database, cast("EmailProvider", chunk[0].provider), emails)
    handed: list[Handed] = []
    for outcome in outcomes:
        if isinstance(outcome, SendResult):
            handed.append(("sent", outcome))
        elif isinstance(outcome, PermanentSendError):
            handed.append(("failed", str(outcome), outcome))
        else:  # transient, or a provider that cannot send now: later, maybe through another
            handed.append(("retry", str(outcome), outcome))
    return handed


def _chunks(ready: list[Prepared]) -> Iterator[list[Prepared]]:
    """Runs of messages with the same provider, as many as it takes in one call."""
    start = 0
    while start < len(ready):
        provider = ready[start].provider
        size = max(1, getattr(provider, "batch_size", 1))
        stop = start + 1
        while stop < len(ready) and stop - start < size and ready[stop].provider is provider:
            stop += 1
        yield ready[start:stop]
        start = stop


def _hand_over_and_record(database: Database, ready: list[Prepared]) -> dict[uuid.UUID, str]:
    """Step 2 and 3: send each message, recording the outcomes when the batch is done or has
    taken RECORD_EVERY since the last record."""
    outcomes: dict[uuid.UUID, str] = {}
    done: list[tuple[Prepared, Handed]] = []
    with _heartbeats.beating(database, [p.email.message_id for p in ready]) as beating:
        last_record = time.monotonic()
        sent_so_far = 0
        for chunk in _chunks(ready):
            done.extend(zip(chunk, _hand_over(database, chunk), strict=True))
            sent_so_far += len(chunk)
            more = sent_so_far < len(ready)
            if more and time.monotonic() - last_record < RECORD_EVERY.total_seconds():
                continue
            with database.transaction() as session:
                outcomes.update(_record(session, done))
            beating.stop([p.email.message_id for p, _handed in done])
            done, last_record = [], time.monotonic()
    return outcomes


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


# Domains that send through the ledger can hold their messages back at send time: a paused
# campaign's message waits, a cancelled one's is skipped. Registered by source, as
# `@send_gate("campaign")`, so this module needs to know no sender. A verdict may depend on the
# message's source and source_id only: a batch asks once for each pair.
SendVerdict = Literal["send", "hold", "skip"]
SendGate = Callable[[Session, Message], SendVerdict]
_send_gates: dict[str, SendGate] = {}


def send_gate(source: str) -> Callable[[SendGate], SendGate]:
    def decorator(gate: SendGate) -> SendGate:
        _send_gates[source] = gate
        return gate

    return decorator


def _apply_gate(session: Session, message: Message, verdict: SendVerdict) -> str | None:
    """None to send; otherwise the message waits (as if it had not been claimed) or is skipped."""
    if verdict == "send":
        return None
    if verdict == "hold":
        message.status = ledger.QUEUED
        message.attempts -= 1
        message.heartbeat_at = None
        message.send_after = utcnow() + HOLD_RECHECK
        return "held"
    ledger.set_status(
        session, message, ledger.SKIPPED, data={"reason": f"{message.source} cancelled"}
    )
    return ledger.SKIPPED


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


# --- Recording results --------------------------------------------------------------------------


def _record(session: Session, done: list[tuple[Prepared, Handed]]) -> dict[uuid.UUID, str]:
    """Step 3: the outcomes of messages handed over, for those whose claim still holds (another
    worker that took over a row it thought abandoned records its own result instead). Sent ones
    in one UPDATE and one INSERT of events; errors one by one (they are few)."""
    attempts = {prepared.email.message_id: prepared.attempt for prepared, _handed in done}
    handed_ids = {
        prepared.email.message_id: handed[1].provider_message_id
        for prepared, handed in done
        if handed[0] == "sent"
    }
    ours = _still_ours(session, attempts, handed_ids)
    now = utcnow()
    outcomes: dict[uuid.UUID, str] = {}
    sent: list[dict[str, object]] = []
    sent_events: list[tuple[uuid.UUID, uuid.UUID, dict[str, object]]] = []
    held: list[tuple[uuid.UUID, datetime | None]] = []
    for prepared, handed in done:
        email = prepared.email
        if email.message_id not in ours:
            outcomes[email.message_id] = "superseded"
            continue
        if handed[0] == "sent":
            result = handed[1]
            provider_message_id = result.provider_message_id
            sent.append(
                {
                    "id": email.message_id,
                    "status": ledger.SENT,
                    "sent_at": now,
                    "provider_message_id": provider_message_id,
                    "unsure_provider_id": None,
                    "error": None,
                    **_rendered(prepared, result.provider),
                    "updated_at": now,
                }
            )
            data: dict[str, object] = {
                "provider": result.provider or prepared.provider.name,
                "provider_message_id": provider_message_id,
            }
            if result.provider_id is not None:
                data["provider_id"] = str(result.provider_id)
            sent_events.append((email.org_id, email.message_id, data))
            outcomes[email.message_id] = ledger.SENT
            continue
        message = session.get(Message, email.message_id)
        assert message is not None
        refusal = handed[2] if len(handed) == 3 else None
        by = refusal.provider if isinstance(refusal, SendError) else None
        for name, value in _rendered(prepared, by).items():
            setattr(message, name, value)
        failover.note_refusal(session, message, refusal)
        if isinstance(refusal, failover.NoProviderNow):
            # Not an attempt: it waits for a provider, and goes when a breaker closes.
            _wait(session, message, NotYet(refusal.until, str(refusal)), kick=False)
            message.error = str(refusal)
            held.append((message.id, refusal.until))
            outcomes[message.id] = "held"
        elif handed[0] == "retry":
            _retry(session, message, prepared.attempt, handed[1])
            outcomes[message.id] = ledger.FAILED if message.status == ledger.FAILED else "retry"
        else:
            _fail(session, message, handed[1])
            outcomes[message.id] = ledger.FAILED
    if held:
        kick_sends(session, held)
    if sent:
        ledger.bulk_update(session, Message, sent)
        ledger.add_events(session, ledger.SENT, sent_events, at=now)
    for prepared, handed in done:
        MESSAGES.labels(prepared.provider.name, handed[0]).inc()
    return outcomes


def _rendered(prepared: Prepared, provider: str | None = None) -> dict[str, object]:
    """What the message was sent as (and through which provider), recorded with its outcome."""
    return {
        "subject": prepared.subject,
        "from_address": prepared.from_address,
        "provider": provider or prepared.provider.name,
    }


def _still_ours(
    session: Session, attempts: dict[uuid.UUID, int], handed: dict[uuid.UUID, str]
) -> set[uuid.UUID]:
    """Of these messages (by id, with the attempt this worker claimed), those still `sending`
    under that attempt, locked until the caller commits. A message the provider's own report
    already recorded as sent under the id the provider gave this worker (an SMS's status
    callback can arrive first) is not a takeover: no warning."""
    rows = session.execute(
        sa.select(Message.id, Message.status, Message.attempts, Message.provider_message_id)
        .where(Message.id.in_(attempts))
        .with_for_update()
    )
    ours = set()
    for message_id, status, attempt, provider_message_id in rows:
        if status == ledger.SENDING and attempt == attempts[message_id]:
            ours.add(message_id)
        elif provider_message_id is None or provider_message_id != handed.get(message_id):
            logger.warning("message %s was taken over while it was being sent", message_id)
    return ours


def _clip(error: str) -> str:
    return error[:MAX_ERROR_LENGTH]


def _fail(session: Session, message: Message, error: str) -> None:
    message.error = _clip(error)
    message.heartbeat_at = None
    ledger.set_status(
        session, message, ledger.FAILED, data={"error": message.error, "attempt": message.attempts}
    )


def _retry(session: Session, message: Message, attempt: int, error: str) -> None:
    """Back to queued after a delay, or failed once the attempts are used up."""
    if attempt >= MAX_ATTEMPTS:
        _fail(session, message, f"{error} (gave up after {attempt} attempts)")
        return
    from herald.email.tasks import send_email

    retry_at = utcnow() + retry_delay(attempt)
    message.error = _clip(error)
    message.send_after = retry_at
    message.heartbeat_at = None
    ledger.set_status(
        session,
        message,
        ledger.QUEUED,
        data={"error": message.error, "attempt": attempt, "retry_at": retry_at.isoformat()},
    )
    enqueue_after_commit(session, send_email.schedule, args=(str(message.id),), eta=retry_at)


def _wait(session: Session, message: Message, wait: NotYet, *, kick: bool = True) -> None:
    """Back to queued until `wait.until`, without using up an attempt (it was not one); kicked
    then unless the caller kicks it with others."""
    from herald.email.tasks import send_email

    message.attempts -= 1
    message.send_after = wait.until
    message.heartbeat_at = None
    ledger.set_status(
        session,
        message,
        ledger.QUEUED,
        data={"waiting": wait.reason, "until": wait.until.isoformat()},
    )
    if kick:
        enqueue_after_commit(session, send_email.schedule, args=(str(message.id),), eta=wait.until)


# --- Heartbeats ---------------------------------------------------------------------------------


class _Heartbeats:
    """One thread per process keeps the heartbeat of every message being sent fresh, so that a
    slow provider is not mistaken for a dead worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._beating: dict[uuid.UUID, Database] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    @contextmanager
    def beating(
        self, database: Database, message_ids: Sequence[uuid.UUID]
    ) -> Iterator[_Heartbeats]:
        """Beat for these messages until the block ends (or `stop` names them first)."""
        with self._lock:
            for message_id in message_ids:
                self._beating[message_id] = database
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="email-heartbeats", daemon=True
                )
                self._thread.start()
        try:
            yield self
        finally:
            self.stop(message_ids)

    def stop(self, message_ids: Sequence[uuid.UUID]) -> None:
        with self._lock:
            for message_id in message_ids:
                self._beating.pop(message_id, None)

    def _run(self) -> None:
        while not self._wake.wait(HEARTBEAT_INTERVAL.total_seconds()):
            with self._lock:
                by_database: dict[int, tuple[Database, list[uuid.UUID]]] = {}
                for message_id, database in self._beating.items():
                    by_database.setdefault(id(database), (database, []))[1].append(message_id)
            for database, ids in by_database.values():
                try:
                    with database.transaction() as session:
                        session.execute(
                            sa.update(Message)
                            .where(Message.id.in_(ids), Message.status == ledger.SENDING)
                            .values(heartbeat_at=utcnow())
                        )
                except Exception:
                    logger.warning("could not refresh message heartbeats", exc_info=True)


_heartbeats = _Heartbeats()


# --- The sweep ----------------------------------------------------------------------------------


def find_messages_to_kick(session: Session, now: datetime, limit: int = 1000) -> list[uuid.UUID]:
    """Queued messages whose time came more than KICK_GRACE ago (their kick was lost, or they
    wait for a retry), and sending ones whose worker is gone."""
    due = sa.func.coalesce(Message.send_after, Message.created_at)
    rows = session.scalars(
        sa.select(Message.id)
        .where(
            sa.or_(
                sa.and_(Message.status == ledger.QUEUED, due <= now - KICK_GRACE),
                abandoned(Message, now, stale_after=STALE_AFTER, running=ledger.SENDING),
            )
        )
        .order_by(Message.created_at)
        .limit(limit)
    )
    return list(rows)
