"""Periodic maintenance of the events table."""

from __future__ import annotations

import logging

from huey import crontab

from herald.db import get_database, utcnow
from herald.events.partitions import ensure_partitions
from herald.worker import huey

logger = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="17", hour="*"), name="herald.events.partitions")  # type: ignore[untyped-decorator]
def maintain_event_partitions() -> list[str]:
    """Hourly, so a missed run or a new month is caught up long before an event needs it."""
    with get_database().engine.begin() as connection:
        created = ensure_partitions(connection, utcnow().date())
    if created:
        logger.info("created event partitions %s", ", ".join(created))
    return created
