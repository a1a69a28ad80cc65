"""Worker side of campaigns: the fan-out pump (every worker process), the periodic start of
scheduled campaigns and the decision of A/B tests whose time has come."""

from __future__ import annotations

from huey import crontab

from herald.campaigns import fanout, lifecycle
from herald.db import Database, get_database
from herald.worker import huey, register_pump


@register_pump("campaigns.fanout")
def fan_out_campaigns(database: Database) -> int:
    return fanout.pump(database)


@huey.periodic_task(crontab(minute="*"), name="herald.campaigns.start_due")  # type: ignore[untyped-decorator]
def start_due_campaigns() -> int:
    with get_database().transaction() as session:
        return lifecycle.start_due_campaigns(session)


@huey.periodic_task(crontab(minute="*"), name="herald.campaigns.decide_tests")  # type: ignore[untyped-decorator]
def decide_ab_tests() -> int:
    return fanout.decide_due_tests(get_database())
