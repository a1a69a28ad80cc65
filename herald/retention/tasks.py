"""The daily retention run (once a day however many schedulers run: periodic_runs)."""

from __future__ import annotations

from huey import crontab

from herald.db import get_database
from herald.retention import service
from herald.settings import get_settings
from herald.worker import huey


@huey.periodic_task(crontab(minute="23", hour="3"), name="herald.retention.run")  # type: ignore[untyped-decorator]
def run_retention() -> int:
    """Prune every organization's old events and message bodies; the events deleted."""
    reports = service.run(get_database(), get_settings().data_dir)
    return sum(report.events_deleted for report in reports)
