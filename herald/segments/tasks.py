"""Worker side of segments: the change processor's pump and the hourly recompute of segments
whose membership moves with the clock."""

from __future__ import annotations

from huey import crontab

from herald.db import Database, get_database
from herald.segments import service
from herald.worker import huey, register_pump


@register_pump("segments.changes")
def process_profile_changes(database: Database) -> int:
    return service.process_changes(database)


@huey.periodic_task(crontab(minute="5", hour="*"), name="herald.segments.time_relative")  # type: ignore[untyped-decorator]
def recompute_time_relative() -> int:
    with get_database().transaction() as session:
        return service.recompute_time_relative(session)
