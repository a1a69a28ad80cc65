"""Huey tasks for email: sending messages (one kick carries up to BATCH_SIZE of them), and the
sweep that finds messages whose kick was lost or whose worker died."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from herald.db import get_database
from herald.email import batch, heartbeats, service
from herald.worker import enqueue_after_commit, huey, register_sweep


@huey.task(name="herald.email.send")  # type: ignore[untyped-decorator]
def send_email(*message_ids: str) -> dict[str, str]:
    outcomes = service.send_messages(get_database(), [uuid.UUID(m) for m in message_ids])
    return {str(message_id): outcome for message_id, outcome in outcomes.items()}


@register_sweep("email.messages", rekicks=True)
def kick_waiting_messages(session: Session, now: datetime) -> int:
    message_ids = [str(m) for m in heartbeats.find_messages_to_kick(session, now)]
    for start in range(0, len(message_ids), batch.BATCH_SIZE):
        enqueue_after_commit(session, send_email, *message_ids[start : start + batch.BATCH_SIZE])
    return len(message_ids)
