"""Huey tasks for email: sending one message, and the sweep that finds messages whose kick was
lost or whose worker died."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from herald.db import get_database
from herald.email import service
from herald.worker import enqueue_after_commit, huey, register_sweep


@huey.task(name="herald.email.send")  # type: ignore[untyped-decorator]
def send_email(message_id: str) -> str:
    return service.send_message(get_database(), uuid.UUID(message_id))


@register_sweep("email.messages")
def kick_waiting_messages(session: Session, now: datetime) -> int:
    message_ids = service.find_messages_to_kick(session, now)
    for message_id in message_ids:
        enqueue_after_commit(session, send_email, str(message_id))
    return len(message_ids)
