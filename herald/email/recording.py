"""Step 3 of a send: record the results in bulk (sent, back to queued with a delay, or failed)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.email import failover
from herald.email.batch import MAX_ATTEMPTS, MAX_ERROR_LENGTH, Handed, Prepared, retry_delay
from herald.email.providers import NotYet, SendError
from herald.messaging import ledger
from herald.messaging.service import kick_sends
from herald.models import Message
from herald.observability.metrics import MESSAGES
from herald.worker import enqueue_after_commit

logger = logging.getLogger(__name__)


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
    """Back to queued until `wait.until`, without using up an attempt (it was not one)."""
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
    if kick:  # else the caller kicks it with others
        enqueue_after_commit(session, send_email.schedule, args=(str(message.id),), eta=wait.until)
