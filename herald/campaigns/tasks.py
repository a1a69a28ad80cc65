"""Worker side of campaigns: the fan-out pump (every worker process) and the periodic start of
scheduled campaigns."""

from __future__ import annotations

from huey import crontab

from herald.campaigns import service
from herald.db import Database, get_database
from herald.worker import huey, register_pump


@register_pump("campaigns.fanout")
def fan_out_campaigns(database: Database) -> int:
    return service.pump(database)


@huey.periodic_task(crontab(minute="*"), name="herald.campaigns.start_due")  # type: ignore[untyped-decorator]
def start_due_campaigns() -> int:
    with get_database().transaction() as session:
        return service.start_due_campaigns(session)
