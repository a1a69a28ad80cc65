"""Monthly partitions of the events table on PostgreSQL (SQLite keeps one plain table).

The migration creates an archive partition for old history and months from two years back to
thirteen ahead. `ensure_partitions` keeps adding months, so an event dated up to a year ahead
(the latest ingestion accepts) always has a partition to land in.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MONTHS_AHEAD = 13


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"events_p{month:%Y_%m}"


def existing_partitions(connection: Connection) -> set[str]:
    rows = connection.execute(
        sa.text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = 'events'"
        )
    )
    return {row[0] for row in rows}


def ensure_partitions(
    connection: Connection, today: date, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Create the missing monthly partitions from this month to `months_ahead` months on.

    Returns the names created. Does nothing on databases other than PostgreSQL.
    """
    if connection.dialect.name != "postgresql":
        return []
    have = existing_partitions(connection)
    created = []
    start = date(today.year, today.month, 1)
    for _ in range(months_ahead + 1):
        end = _next_month(start)
        name = partition_name(start)
        if name not in have:
            connection.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                    f"FOR VALUES FROM ('{start.isoformat()}+00') TO ('{end.isoformat()}+00')"
                )
            )
            created.append(name)
        start = end
    return created
