"""Job handlers for imports (registered when a worker imports this module)."""

from __future__ import annotations

from typing import Any

from herald.imports import event_import, profile_import, service
from herald.jobs.service import JobRun, job_handler


@job_handler(service.PROFILE_KIND)
def import_profiles(run: JobRun) -> dict[str, Any]:
    return profile_import.run_profile_import(run)


@job_handler(service.EVENT_KIND)
def import_events(run: JobRun) -> dict[str, Any]:
    return event_import.run_event_import(run)
