"""Worker side of analytics: the pump recomputing the hours the ledger and ingestion mark."""

from __future__ import annotations

from herald.analytics import rollups
from herald.db import Database
from herald.worker import register_pump


@register_pump("analytics.rollups")
def recompute_marked_hours(database: Database) -> int:
    return rollups.process_marks(database)
