"""Sending one message: claim its row, check it may still be sent, render it, hand it to the
organization's provider, record what happened.

The order is what makes a crash harmless (DESIGN invariant 3):

1. One transaction claims the row (queued -> sending, or a sending row whose worker stopped
   heartbeating), re-checks suppression and consent (they may have changed since it was queued),
   renders it and builds the MIME message, and commits.
2. The provider is called outside any transaction.
3. A new transaction records the result: sent, back to queued with a delay (transient error), or
   failed (permanent error, or too many attempts).

A worker that dies in step 2 leaves the row `sending`; once its heartbeat is older than
`STALE_AFTER` the sweep kicks it again and another worker claims it. The provider gets the same
message id and idempotency key, so the outbox stores it once; over SMTP, which has no idempotency,
the re-sent copy carries the same Message-ID header.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.headerregistry import Address
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.email import mime
from herald.email.providers import (
    EmailProvider,
    OutgoingEmail,
    PermanentSendError,
    TransientSendError,
    get_provider,
)
from herald.messaging import ledger, suppression, tracking
from herald.models import Consent, EmailSettings, EmailTemplate, Message, Organization, Profile
from herald.security import decrypt
from herald.settings import get_settings
from herald.templates.rendering import (
    TemplateError,
    TemplateParts,
    build_context,
    parts_of,
    render_email,
)
from herald.worker import claim, enqueue_after_commit

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Prepared:
    email: OutgoingEmail
    provider: EmailProvider
    attempt: int


def retry_delay(attempt: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempt, 1), len(RETRY_DELAYS)) - 1]


def send_message(database: Database, message_id: uuid.UUID) -> str:
    """Claim, check, render and send one message; returns what happened ("sent", "retry",
    "failed", "suppressed", "skipped", or why nothing was done). Safe to call any number of
    times for the same message."""
    with database.transaction() as session:
        prepared = claim_and_prepare(session, message_id)
    if isinstance(prepared, str):
        return prepared
    with _heartbeats.beating(database, message_id):
        try:
            result = prepared.provider.send(prepared.email)
        except TransientSendError as exc:
            return _record_retry(database, message_id, prepared.attempt, str(exc))
        except PermanentSendError as exc:
            return _record_failure(database, message_id, prepared.attempt, str(exc))
        except Exception as exc:
            logger.exception("provider %s raised on message %s", prepared.provider.name, message_id)
            return _record_retry(database, message_id, prepared.attempt, repr(exc))
    with database.transaction() as session:
        message = _still_ours(session, message_id, prepared.attempt)
        if message is None:
            return "superseded"
        message.provider_message_id = result.provider_message_id
        message.error = None
        ledger.set_status(
            session,
            message,
            ledger.SENT,
            data={
                "provider": prepared.provider.name,
                "provider_message_id": result.provider_message_id,
            },
        )
    return "sent"


def claim_and_prepare(session: Session, message_id: uuid.UUID) -> Prepared | str:
    """Step 1: the caller commits what this did before anything is sent."""
    message = session.get(Message, message_id)
    if message is None:
        return "missing"
    if message.status in ledger.FINAL_STATUSES:
        return "done"
    now = utcnow()
    ready = sa.or_(Message.send_after.is_(None), Message.send_after <= now)
    if not claim(
        session,
        Message,
        message_id,
        stale_after=STALE_AFTER,
        pending=ledger.QUEUED,
        running=ledger.SENDING,
        ready=ready,
    ):
        return "not-claimed"
    session.refresh(message)
    gate = _send_gates.get(message.source)
    if gate is not None:
        held = _apply_gate(session, message, gate(session, message))
        if held is not None:
            return held
    attempt = message.attempts
    ledger.record_event(session, message, ledger.SENDING, data={"attempt": attempt})
    if attempt > MAX_ATTEMPTS:
        _fail(session, message, message.error or f"gave up after {MAX_ATTEMPTS} attempts")
        return ledger.FAILED
    blocked = _blocked(session, message)
    if blocked is not None:
        status, reason = blocked
        message.error = None
        ledger.set_status(session, message, status, data={"reason": reason})
        return status
    try:
        with session.begin_nested():
            return _prepare(session, message, attempt)
    except (TemplateError, PermanentSendError) as exc:
        _fail(session, message, str(exc))
        return ledger.FAILED
    except Exception as exc:
        logger.exception("could not prepare message %s", message_id)
        _retry(session, message, attempt, repr(exc))
        return "retry"


# Domains that send through the ledger can hold their messages back at send time: a paused
# campaign's message waits, a cancelled one's is skipped. Registered by source, as
# `@send_gate("campaign")`, so this module needs to know no sender.
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


def _blocked(session: Session, message: Message) -> tuple[str, str] | None:
    """Whether the message must not go out now: suppressed (the address is on the list) or
    skipped (the person withdrew consent). Marketing respects every suppression and consent;
    transactional email only hard bounces, complaints and manual suppressions."""
    if not message.to_address:
        return ledger.SKIPPED, "no address (the profile was erased)"
    if message.marketing:
        if suppression.is_suppressed(session, message.org_id, "email", message.to_address):
            return ledger.SUPPRESSED, "the address is on the suppression list"
        if message.profile_id is not None:
            granted = session.scalar(
                sa.select(Consent.granted).where(
                    Consent.org_id == message.org_id,
                    Consent.profile_id == message.profile_id,
                    Consent.channel == "email",
                )
            )
            if granted is False:
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


def _prepare(session: Session, message: Message, attempt: int) -> Prepared:
    organization = session.get(Organization, message.org_id)
    assert organization is not None
    settings_row = session.get(EmailSettings, message.org_id)
    profile = session.get(Profile, message.profile_id) if message.profile_id else None
    template: EmailTemplate | None = None
    content = message.content or {}
    if message.template_id is not None:
        template = session.get(EmailTemplate, message.template_id)
    if template is not None:
        parts = parts_of(template)
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
    if message.marketing and not (settings_row and (settings_row.postal_address or "").strip()):
        # CAN-SPAM: marketing email carries the sender's postal address; without one it stays.
        raise PermanentSendError(
            "marketing email needs the organization's postal address (Settings → Email)"
        )
    context = build_context(
        profile=profile,
        organization=organization,
        settings=settings_row,
        data=content.get("data") or {},
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
            tracking.list_unsubscribe_headers(message.id, tracking.unsubscribe_mailbox(from_email))
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
    provider = get_provider(settings_row)
    raw = mime.render_mime(parts_for_mime, dkim_key(settings_row))
    message.subject = rendered.subject
    message.from_address = str(Address(display_name=from_name or "", addr_spec=from_email))
    message.provider = provider.name
    session.flush()
    email = OutgoingEmail(
        message_id=message.id,
        org_id=message.org_id,
        idempotency_key=message.idempotency_key,
        envelope_from=mime.ascii_address(from_email),
        envelope_to=[mime.ascii_address(message.to_address)],
        mime=raw,
    )
    return Prepared(email=email, provider=provider, attempt=attempt)


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


def _still_ours(session: Session, message_id: uuid.UUID, attempt: int) -> Message | None:
    """The message, locked, if this worker's claim still holds: another worker that took over
    a row it thought abandoned records its own result instead."""
    message = session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None or message.status != ledger.SENDING or message.attempts != attempt:
        logger.warning("message %s was taken over while it was being sent", message_id)
        return None
    return message


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


def _record_retry(database: Database, message_id: uuid.UUID, attempt: int, error: str) -> str:
    with database.transaction() as session:
        message = _still_ours(session, message_id, attempt)
        if message is None:
            return "superseded"
        _retry(session, message, attempt, error)
        return message.status if message.status == ledger.FAILED else "retry"


def _record_failure(database: Database, message_id: uuid.UUID, attempt: int, error: str) -> str:
    with database.transaction() as session:
        message = _still_ours(session, message_id, attempt)
        if message is None:
            return "superseded"
        _fail(session, message, error)
    return ledger.FAILED


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
    def beating(self, database: Database, message_id: uuid.UUID) -> Iterator[None]:
        with self._lock:
            self._beating[message_id] = database
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="email-heartbeats", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
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
    wait for a retry), and sending ones whose worker stopped heartbeating."""
    due = sa.func.coalesce(Message.send_after, Message.created_at)
    rows = session.scalars(
        sa.select(Message.id)
        .where(
            sa.or_(
                sa.and_(Message.status == ledger.QUEUED, due <= now - KICK_GRACE),
                sa.and_(Message.status == ledger.SENDING, Message.heartbeat_at < now - STALE_AFTER),
            )
        )
        .order_by(Message.created_at)
        .limit(limit)
    )
    return list(rows)
