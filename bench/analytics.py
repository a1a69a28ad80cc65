"""Analytics benchmark: Herald's reports (over its hourly rollups) against DuckDB over the raw rows.

One run (issue 17):

  1. generates deterministic messages, message events and events (seeded; `--messages`,
     `--events`), over `--days` days before a fixed anchor, into a scratch database migrated by
     Herald's migrations (SQLite file, or a scratch PostgreSQL database with `--database
     postgresql`), and the same rows into CSV files that DuckDB reads: the reference;
  2. builds the rollups with `herald.analytics.rollups.rebuild` over the whole range (timed);
  3. times each report (median of `--repeat` runs): the overview, a daily revenue series, the
     sources table, deliverability by domain and the event series, for the last 30 days;
  4. computes the same figures with hand-written DuckDB SQL over the raw rows (last touch within
     the window by an ASOF JOIN), timed, and checks that every number is EQUAL: per source
     sent, unique opens, clicks, bounces, unsubscribes, conversions and revenue, the unattributed
     revenue, and the event counts per name. A mismatch exits 1.

Targets (the issue's): every report under 300 ms on PostgreSQL at 20,000,000 events and
2,000,000 messages, and under 1 s on SQLite at 2,000,000 events.

    .venv/bin/python bench/analytics.py                                   # small, SQLite
    .venv/bin/python bench/analytics.py --database postgresql --events 20000000 --messages 2000000
"""

from __future__ import annotations

import argparse
import csv
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import psycopg
import sqlalchemy as sa
from psycopg import sql

from herald.analytics import reports, rollups
from herald.analytics.settings import attribution_settings
from herald.db import Database, configure_database
from herald.migrations import upgrade
from herald.models import Event, Message, MessageEvent, Organization, Profile

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "example.com", "proton.me")
NAMES = ("Viewed Product", "Added to Cart", "Active on Site", "Placed Order", "Started Checkout")
WINDOW_HOURS = 120


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=17)
    return parser.parse_args(argv)


# --- Data -------------------------------------------------------------------------------------


def generate(options: argparse.Namespace, org_id: uuid.UUID, folder: Path) -> dict[str, Path]:
    """Write profiles, messages, message events and events as CSV (the rows both sides load)."""
    chance = random.Random(options.seed)
    span = timedelta(days=options.days)
    start = ANCHOR - span
    people = max(options.events // 20, 10)
    profile_ids = [uuid.UUID(int=chance.getrandbits(128), version=4) for _ in range(people)]
    campaigns = [uuid.UUID(int=i + 1) for i in range(20)]
    flows = [uuid.UUID(int=1000 + i) for i in range(5)]
    paths = {name: folder / f"{name}.csv" for name in ("profiles", "messages", "events", "touch")}

    def moment(low: datetime = start, high: datetime = ANCHOR) -> datetime:
        seconds = (high - low).total_seconds()
        return low + timedelta(microseconds=chance.randrange(int(seconds * 1_000_000)))

    with paths["profiles"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        for index, profile_id in enumerate(profile_ids):
            writer.writerow([profile_id, f"p{index}@{DOMAINS[index % len(DOMAINS)]}"])
    with (
        paths["messages"].open("w", newline="") as messages,
        paths["touch"].open("w", newline="") as touches,
    ):
        message_writer, touch_writer = csv.writer(messages), csv.writer(touches)
        for index in range(options.messages):
            person = chance.randrange(people)
            pick = chance.random()
            source, source_id = (
                ("campaign", campaigns[chance.randrange(len(campaigns))])
                if pick < 0.6
                else ("flow", flows[chance.randrange(len(flows))])
                if pick < 0.9
                else ("transactional", None)
            )
            created = moment()
            sent = created + timedelta(seconds=chance.randrange(1, 600))
            message_id = uuid.UUID(int=chance.getrandbits(128), version=4)
            address = f"p{person}@{DOMAINS[person % len(DOMAINS)]}"
            provider = ("ses", "postmark")[index % 2]
            bounce = chance.random()
            delivered = None if bounce < 0.03 else sent + timedelta(seconds=5)
            message_writer.writerow(
                [
                    message_id,
                    profile_ids[person],
                    source,
                    source_id or "",
                    address,
                    provider,
                    created.isoformat(),
                    sent.isoformat(),
                    delivered.isoformat() if delivered else "",
                ]
            )
            kinds: list[tuple[str, datetime, bool]] = [("sent", sent, False)]
            if bounce < 0.02:
                kinds.append(("bounced", sent + timedelta(seconds=3), False))
            elif bounce < 0.03:
                kinds.append(("soft_bounce", sent + timedelta(seconds=3), False))
            else:
                if chance.random() < 0.35:
                    opened = moment(sent, min(sent + timedelta(days=3), ANCHOR + timedelta(days=3)))
                    kinds.append(("opened", opened, chance.random() < 0.2))
                    if chance.random() < 0.3:
                        kinds.append(("opened", opened + timedelta(hours=5), False))
                    if chance.random() < 0.25:
                        kinds.append(("clicked", opened + timedelta(minutes=1), False))
                if chance.random() < 0.004:
                    kinds.append(("unsubscribed", sent + timedelta(hours=2), False))
                if chance.random() < 0.001:
                    kinds.append(("complained", sent + timedelta(hours=3), False))
            for kind, at, machine in kinds:
                if at < ANCHOR:
                    touch_writer.writerow(
                        [
                            uuid.UUID(int=chance.getrandbits(128), version=4),
                            message_id,
                            kind,
                            at.isoformat(),
                            machine,
                        ]
                    )
    with paths["events"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        for _ in range(options.events):
            name = NAMES[chance.randrange(len(NAMES))]
            value = round(chance.uniform(5, 300), 2) if name == "Placed Order" else ""
            writer.writerow(
                [
                    uuid.UUID(int=chance.getrandbits(128), version=4),
                    profile_ids[chance.randrange(people)],
                    name,
                    moment().isoformat(),
                    value,
                ]
            )
    return paths


def _rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="") as handle:
        yield from csv.reader(handle)


def load(database: Database, org_id: uuid.UUID, paths: dict[str, Path]) -> None:
    """The CSV rows into Herald's tables (through SQLAlchemy, so each type is stored its way)."""

    def when(text: str) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    def batches(rows: Iterator[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    tables: list[tuple[Any, Iterator[dict[str, Any]]]] = [
        (
            Profile,
            (
                {
                    "id": uuid.UUID(r[0]),
                    "org_id": org_id,
                    "email": r[1],
                    "properties": {},
                    "created_at": ANCHOR,
                    "updated_at": ANCHOR,
                }
                for r in _rows(paths["profiles"])
            ),
        ),
        (
            Message,
            (
                {
                    "id": uuid.UUID(r[0]),
                    "org_id": org_id,
                    "profile_id": uuid.UUID(r[1]),
                    "channel": "email",
                    "source": r[2],
                    "source_id": uuid.UUID(r[3]) if r[3] else None,
                    "marketing": True,
                    "idempotency_key": r[0],
                    "to_address": r[4],
                    "content": {},
                    "status": "sent",
                    "attempts": 1,
                    "provider": r[5],
                    "created_at": when(r[6]),
                    "sent_at": when(r[7]),
                    "delivered_at": when(r[8]),
                    "updated_at": when(r[7]),
                }
                for r in _rows(paths["messages"])
            ),
        ),
        (
            MessageEvent,
            (
                {
                    "id": uuid.UUID(r[0]),
                    "org_id": org_id,
                    "message_id": uuid.UUID(r[1]),
                    "kind": r[2],
                    "at": when(r[3]),
                    "machine": r[4] == "True",
                    "data": {},
                }
                for r in _rows(paths["touch"])
            ),
        ),
        (
            Event,
            (
                {
                    "id": uuid.UUID(r[0]),
                    "org_id": org_id,
                    "profile_id": uuid.UUID(r[1]),
                    "name": r[2],
                    "time": when(r[3]),
                    "value": float(r[4]) if r[4] else None,
                    "properties": {},
                    "source": "api",
                    "received_at": ANCHOR,
                }
                for r in _rows(paths["events"])
            ),
        ),
    ]
    for model, rows in tables:
        for batch in batches(rows):
            with database.engine.begin() as connection:
                connection.execute(sa.insert(model.__table__), batch)
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE"))


# --- The reference ------------------------------------------------------------------------------


def reference(
    paths: dict[str, Path], start: datetime, end: datetime
) -> tuple[dict[str, Any], float]:
    """The same figures from the raw rows with DuckDB; (figures, seconds for the queries)."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute(f"""CREATE TABLE messages AS SELECT * FROM read_csv('{paths["messages"]}',
        header=false, columns={{'id':'VARCHAR','profile_id':'VARCHAR','source':'VARCHAR',
        'source_id':'VARCHAR','address':'VARCHAR','provider':'VARCHAR','created_at':'TIMESTAMPTZ',
        'sent_at':'TIMESTAMPTZ','delivered_at':'TIMESTAMPTZ'}})""")
    db.execute(f"""CREATE TABLE message_events AS SELECT * FROM read_csv('{paths["touch"]}',
        header=false, columns={{'id':'VARCHAR','message_id':'VARCHAR','kind':'VARCHAR',
        'event_at':'TIMESTAMPTZ','machine':'BOOLEAN'}})""")
    db.execute(f"""CREATE TABLE events AS SELECT * FROM read_csv('{paths["events"]}',
        header=false, columns={{'id':'VARCHAR','profile_id':'VARCHAR','name':'VARCHAR',
        'time':'TIMESTAMPTZ','value':'DOUBLE'}})""")
    params = {"start": start, "end": end}
    began = time.perf_counter()
    per_source = db.execute(
        """
        WITH firsts AS (
            SELECT message_id, kind, min(event_at) AS first_at FROM message_events
            WHERE NOT machine GROUP BY message_id, kind
        ),
        touches AS (
            SELECT m.profile_id, e.event_at AS touched, m.id AS message_id FROM message_events e
            JOIN messages m ON m.id = e.message_id
            WHERE e.kind = 'clicked' OR (e.kind = 'opened' AND NOT e.machine)
        ),
        orders AS (
            SELECT * FROM events WHERE name = 'Placed Order'
            AND time >= $start AND time < $end
        ),
        credited AS (
            SELECT o.id, o.value, t.message_id, t.touched FROM orders o
            ASOF LEFT JOIN touches t ON t.profile_id = o.profile_id AND t.touched <= o.time
        ),
        credits AS (
            SELECT m.source, coalesce(m.source_id, '') AS source_id,
                   count(*) AS conversions, round(sum(c.value), 2) AS revenue
            FROM credited c JOIN messages m ON m.id = c.message_id
            JOIN orders o ON o.id = c.id
            WHERE o.time - c.touched <= INTERVAL 120 HOUR
            GROUP BY ALL
        ),
        counts AS (
            SELECT m.source, coalesce(m.source_id, '') AS source_id,
                count(DISTINCT m.id) FILTER (WHERE m.sent_at >= $start AND m.sent_at < $end)
                    AS sent,
                count(*) FILTER (WHERE f.kind = 'opened') AS opens_unique,
                count(*) FILTER (WHERE f.kind = 'clicked') AS clicks_unique,
                count(*) FILTER (WHERE f.kind = 'bounced') AS bounced,
                count(*) FILTER (WHERE f.kind = 'unsubscribed') AS unsubscribes
            FROM messages m
            LEFT JOIN firsts f ON f.message_id = m.id AND f.first_at >= $start AND f.first_at < $end
            GROUP BY ALL
        )
        SELECT c.*, coalesce(k.conversions, 0), coalesce(k.revenue, 0) FROM counts c
        LEFT JOIN credits k USING (source, source_id)
        """,
        params,
    ).fetchall()
    unattributed = db.execute(
        """
        WITH touches AS (
            SELECT m.profile_id, e.event_at AS touched FROM message_events e
            JOIN messages m ON m.id = e.message_id
            WHERE e.kind = 'clicked' OR (e.kind = 'opened' AND NOT e.machine)
        ),
        orders AS (
            SELECT * FROM events WHERE name = 'Placed Order' AND time >= $start AND time < $end
        )
        SELECT round(coalesce(sum(o.value), 0), 2) FROM orders o
        ASOF LEFT JOIN touches t ON t.profile_id = o.profile_id AND t.touched <= o.time
        WHERE t.touched IS NULL OR o.time - t.touched > INTERVAL 120 HOUR
        """,
        params,
    ).fetchone()
    names = db.execute(
        "SELECT name, count(*) FROM events WHERE time >= $start AND time < $end GROUP BY name",
        params,
    ).fetchall()
    seconds = time.perf_counter() - began
    sources = {
        (row[0], row[1]): {
            "sent": row[2],
            "opens_unique": row[3],
            "clicks_unique": row[4],
            "bounced": row[5],
            "unsubscribes": row[6],
            "conversions": row[7],
            "revenue": float(row[8]),
        }
        for row in per_source
        if any(row[2:])
    }
    assert unattributed is not None
    return (
        {"sources": sources, "unattributed": float(unattributed[0]), "events": dict(names)},
        seconds,
    )


# --- Run ----------------------------------------------------------------------------------------


def median_ms(function: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    folder = Path(tempfile.mkdtemp(prefix="herald-bench-analytics-"))
    scratch = f"herald_bench_{secrets.token_hex(4)}"
    if options.database == "postgresql":
        with psycopg.connect(options.postgres_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        url = options.postgres_url.rsplit("/", 1)[0] + f"/{scratch}"
    else:
        url = f"sqlite:///{folder / 'herald.db'}"
    try:
        upgrade(url)
        database = configure_database(url)
        org_id = uuid.uuid4()
        with database.transaction() as session:
            session.add(Organization(id=org_id, name="Bench", timezone="UTC"))
        began = time.perf_counter()
        paths = generate(options, org_id, folder)
        load(database, org_id, paths)
        print(
            f"data: {options.messages:,} messages, {options.events:,} events on "
            f"{options.database}, generated and loaded in {time.perf_counter() - began:.1f} s"
        )
        began = time.perf_counter()
        hours = rollups.rebuild(
            database,
            ANCHOR - timedelta(days=options.days + 1),
            ANCHOR + timedelta(days=1),
            org_id=org_id,
        )
        build = time.perf_counter() - began
        print(
            f"rollups: {hours:,} hours rebuilt in {build:.1f} s "
            f"({build / hours * 1000:.1f} ms an hour)"
        )

        zone = ZoneInfo("UTC")
        last = (ANCHOR - timedelta(days=1)).date()
        span = reports.Period.of_days(last - timedelta(days=29), last, zone)
        timings: dict[str, float] = {}
        with database.transaction() as session:
            from herald.analytics import service

            settings = attribution_settings(session, org_id)
            calls: dict[str, Callable[[], Any]] = {
                "overview": lambda: service.overview(session, org_id, span, settings),
                "timeseries (revenue by day)": lambda: reports.timeseries(
                    session, org_id, "revenue", "day", span
                ),
                "sources table": lambda: reports.source_rows(session, org_id, span),
                "deliverability by domain": lambda: reports.deliverability(
                    session, org_id, span, "domain"
                ),
                "event series": lambda: reports.event_series(session, org_id, span, "day"),
            }
            for name, call in calls.items():
                timings[name] = median_ms(call, options.repeat)
            herald_sources = {
                (row["source"], str(row["source_id"] or "")): row
                for row in reports.source_rows(session, org_id, span)
            }
            herald_unattributed = reports.unattributed_revenue(session, org_id, span)
            herald_events = {
                name: sum(p["events"] for p in points)
                for name, points in reports.event_series(session, org_id, span, "day").items()
            }
        expected, reference_seconds = reference(paths, span.start, span.end)

        mismatches = []
        for key, figures in expected["sources"].items():
            row = herald_sources.get(key)
            for measure, value in figures.items():
                got = None if row is None else row[measure]
                if got is None or abs(float(got) - float(value)) > 0.005:
                    mismatches.append(f"{key} {measure}: herald {got}, duckdb {value}")
        if abs(herald_unattributed - expected["unattributed"]) > 0.005:
            mismatches.append(
                f"unattributed: herald {herald_unattributed}, duckdb {expected['unattributed']}"
            )
        if herald_events != expected["events"]:
            mismatches.append(f"events: herald {herald_events}, duckdb {expected['events']}")

        limit = 300 if options.database == "postgresql" else 1000
        print(f"\nreports over {span.start.date()}..{last} (median of {options.repeat}):")
        for name, ms in timings.items():
            verdict = "ok" if ms < limit else f"OVER {limit} ms"
            print(f"  {name:30} {ms:9.1f} ms  {verdict}")
        total = sum(timings.values())
        print(f"  {'all five':30} {total:9.1f} ms")
        print(f"reference: DuckDB over the raw rows: {reference_seconds * 1000:.1f} ms")
        print(
            f"ratio: Herald's reports take {total / (reference_seconds * 1000):.2f}x the "
            "reference's time"
        )
        checked = sum(len(v) for v in expected["sources"].values())
        if mismatches:
            print(f"\nNUMBERS DIFFER ({len(mismatches)}):")
            for line in mismatches[:30]:
                print("  " + line)
            return 1
        print(
            f"equality: {len(expected['sources'])} sources x 7 figures ({checked} numbers), "
            f"unattributed revenue and {len(herald_events)} event counts all equal"
        )
        return 0
    finally:
        configure_database("sqlite://")
        if options.database == "postgresql":
            with psycopg.connect(options.postgres_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
