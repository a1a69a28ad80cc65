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
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from herald.analytics import reports, rollups
from herald.analytics.settings import attribution_settings
from herald.db import Database, configure_database
from herald.migrations import upgrade
from herald.models import (
    Event,
    Message,
    MessageEvent,
    Organization,
    Profile,
    Segment,
    SegmentMember,
)

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


def generate(options: argparse.Namespace, folder: Path) -> tuple[dict[str, Path], dict[str, int]]:
    """Write profiles, messages, message events and events as CSV (the rows both sides load);
    the files and the number of rows per table."""
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
    touched = 0
    progress = Progress(
        TextColumn("{task.description:16}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    progress.start()
    task = progress.add_task("generate", total=options.messages + options.events)
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
            if index % 20_000 == 0:
                progress.update(task, completed=index)
            for kind, at, machine in kinds:
                if at < ANCHOR:
                    touched += 1
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
        for index in range(options.events):
            if index % 20_000 == 0:
                progress.update(task, completed=options.messages + index)
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
    progress.update(task, completed=options.messages + options.events)
    progress.stop()
    sizes = {
        "profiles": people,
        "messages": options.messages,
        "message_events": touched,
        "events": options.events,
    }
    return paths, sizes


def _rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="") as handle:
        yield from csv.reader(handle)


def _when(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _link(message_id: str) -> str:
    """A clicked link's data: one of eight links, the same for a message on both sides."""
    return f'{{"url": "https://shop.example/p{int(message_id[:2], 16) % 8}"}}'


def _segment(database: Database, org_id: uuid.UUID, share: int = 100) -> uuid.UUID:
    """A segment of one profile in `share`, for the segment report."""
    segment_id = uuid.uuid4()
    with database.transaction() as session:
        session.add(Segment(id=segment_id, org_id=org_id, name="Bench", definition={}))
        session.flush()
        members = session.scalars(sa.select(Profile.id).where(Profile.org_id == org_id)).all()
        session.execute(
            sa.insert(SegmentMember),
            [
                {"segment_id": segment_id, "profile_id": p, "org_id": org_id, "entered_at": ANCHOR}
                for p in members[::share]
            ],
        )
    return segment_id


def _table_rows(org_id: uuid.UUID, paths: dict[str, Path]) -> list[tuple[Any, list[str], Any]]:
    """Per table: the model, the columns loaded, and the rows (as Python values) from the CSV."""
    no_json = "{}"
    return [
        (
            Profile,
            ["id", "org_id", "email", "properties", "created_at", "updated_at"],
            ((r[0], org_id, r[1], no_json, ANCHOR, ANCHOR) for r in _rows(paths["profiles"])),
        ),
        (
            Message,
            [
                "id", "org_id", "profile_id", "channel", "source", "source_id", "marketing",
                "idempotency_key", "to_address", "content", "status", "attempts", "provider",
                "created_at", "sent_at", "delivered_at", "updated_at",
            ],
            (
                (
                    r[0], org_id, r[1], "email", r[2], r[3] or None, True, r[0], r[4], no_json,
                    "sent", 1, r[5], _when(r[6]), _when(r[7]), _when(r[8]), _when(r[7]),
                )
                for r in _rows(paths["messages"])
            ),
        ),
        (
            MessageEvent,
            ["id", "org_id", "message_id", "kind", "at", "machine", "data"],
            (
                (r[0], org_id, r[1], r[2], _when(r[3]), r[4] == "True",
                 _link(r[1]) if r[2] == "clicked" else no_json)
                for r in _rows(paths["touch"])
            ),
        ),
        (
            Event,
            [
                "id", "org_id", "profile_id", "name", "time", "value", "properties", "source",
                "received_at",
            ],
            (
                (r[0], org_id, r[1], r[2], _when(r[3]), float(r[4]) if r[4] else None, no_json,
                 "api", ANCHOR)
                for r in _rows(paths["events"])
            ),
        ),
    ]  # fmt: skip


def load(
    database: Database, org_id: uuid.UUID, paths: dict[str, Path], sizes: dict[str, int]
) -> None:
    """The CSV rows into Herald's tables: COPY on PostgreSQL; on SQLite, executemany through
    SQLAlchemy (so each type is stored its way) in transactions of 200,000 rows."""
    postgres = database.engine.dialect.name == "postgresql"
    with Progress(
        TextColumn("{task.description:16}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    ) as progress:  # fmt: skip
        for model, columns, rows in _table_rows(org_id, paths):
            table = model.__table__
            task = progress.add_task(f"load {table.name}", total=sizes[table.name])
            if postgres:
                raw = database.engine.raw_connection()
                try:
                    cursor = raw.cursor()
                    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
                    )
                    with cursor.copy(statement) as copy:
                        for count, row in enumerate(rows, 1):
                            copy.write_row(row)
                            if count % 20_000 == 0:
                                progress.update(task, completed=count)
                    raw.commit()
                finally:
                    raw.close()
            else:
                insert = sa.insert(table)
                uuid_columns = {name for name in columns if isinstance(table.c[name].type, sa.Uuid)}
                batch: list[dict[str, Any]] = []
                done = 0

                for values in rows:
                    batch.append(
                        {
                            name: uuid.UUID(str(value))
                            if name in uuid_columns and value is not None
                            else ({} if value == "{}" else value)
                            for name, value in zip(columns, values, strict=True)
                        }
                    )
                    if len(batch) == 200_000:
                        with database.engine.begin() as connection:
                            connection.execute(insert, batch)
                        done += len(batch)
                        batch = []
                        progress.update(task, completed=done)
                if batch:
                    with database.engine.begin() as connection:
                        connection.execute(insert, batch)
            progress.update(task, completed=sizes[table.name])
    if postgres:
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
        paths, sizes = generate(options, folder)
        generated = time.perf_counter() - began
        load(database, org_id, paths, sizes)
        print(
            f"data: {options.messages:,} messages, {sizes['message_events']:,} message events, "
            f"{options.events:,} events on {options.database}: generated in {generated:.1f} s, "
            f"loaded in {time.perf_counter() - began - generated:.1f} s"
        )
        began = time.perf_counter()
        with Progress(
            TextColumn("rollups"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(),
        ) as progress:  # fmt: skip
            task = progress.add_task("rollups", total=None)
            hours = rollups.rebuild(
                database,
                ANCHOR - timedelta(days=options.days + 1),
                ANCHOR + timedelta(days=1),
                org_id=org_id,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        build = time.perf_counter() - began
        print(
            f"rollups: {hours:,} hours rebuilt in {build:.1f} s "
            f"({build / hours * 1000:.1f} ms an hour)"
        )

        segment_id = _segment(database, org_id)
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
                "campaign link clicks": lambda: service.link_counts(
                    session, org_id, uuid.UUID(int=1)
                ),
                "segment report": lambda: service.segment_report(
                    session, org_id, segment_id, span, settings
                ),
            }
            # The yardstick on the same database: plain counts over the period's raw rows.
            plain: dict[str, Callable[[], Any]] = {
                "count(*) events": lambda: session.scalar(
                    sa.select(sa.func.count()).where(
                        Event.org_id == org_id, Event.time >= span.start, Event.time < span.end
                    )
                ),
                "count(*) message events": lambda: session.scalar(
                    sa.select(sa.func.count()).where(
                        MessageEvent.org_id == org_id,
                        MessageEvent.at >= span.start,
                        MessageEvent.at < span.end,
                    )
                ),
            }
            yardstick = {name: median_ms(call, options.repeat) for name, call in plain.items()}
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
        print(f"  {'all reports':30} {total:9.1f} ms")
        for name, ms in yardstick.items():
            print(f"  {name:30} {ms:9.1f} ms  (yardstick: a plain count over the period's rows)")
        plain_ms = max(yardstick.values())
        for name, ms in timings.items():
            print(f"  {name:30} {ms / plain_ms:9.3f}x the slower plain count")
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
