"""Heartbeats of the messages a worker is sending, and the sweep that kicks messages whose worker
stopped heartbeating or whose kick was lost."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.email.batch import HEARTBEAT_INTERVAL, KICK_GRACE, STALE_AFTER
from herald.messaging import ledger
from herald.models import Message
from herald.worker import abandoned

logger = logging.getLogger(__name__)


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
