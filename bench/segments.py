"""Segmentation benchmark: Herald's segment computation on PostgreSQL against DuckDB.

One run (issue #5):

  1. generates deterministic profiles and events (seeded; `--scale 1` = 1,000,000 profiles and
     20,000,000 events over 180 days) with DuckDB's vectorized SQL into CSV files, loads them into
     a scratch PostgreSQL database migrated by Herald's migrations (COPY, indexes built after the
     load, VACUUM ANALYZE) and, from the same files, into a DuckDB database: the reference;
  2. creates 10 segments through `herald.segments.service.create_segment` (the recompute jobs it
     queues stay in a queue that no worker reads) and times `recompute` of each, one transaction
     each;
  3. runs a hand-written DuckDB query for each definition over the same rows, and checks that the
     member sets are identical;
  4. ingests `--new-events` (10,000) new events through `herald.events.service.ingest` in batches
     of 1,000, as the API does, appends the same events to DuckDB, times `process_changes` until
     `profile_changes` is empty and checks every segment against DuckDB again;
  5. times `evaluate_profiles` for one profile (median over `--profiles` profiles), across all 10
     segments and segment by segment.

Segment computation reads the clock: the run freezes Herald's segment clock
(`herald.segments.service.utcnow`) at the data's anchor (the hour the data was generated) and the
reference uses the same instant, so "in the last 30 days" means the same everywhere and a reused
database (`--keep-database`) gives the same answers on a later day.

Targets: all 10 recomputes in at most 60 s, the incremental update in at most 5 s, one profile's
re-evaluation in at most 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, LiteralString, cast

import psycopg
import sqlalchemy as sa
from psycopg import sql
from pydantic import TypeAdapter
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

try:
    import duckdb
except ImportError:  # pragma: no cover - told to the user in main()
    duckdb = None  # type: ignore[assignment]

if __package__ in (None, ""):  # run as `python bench/segments.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herald.db import Database, configure_database
from herald.events import batch as events_batch
from herald.events import schemas as event_schemas
from herald.events import service as event_service
from herald.events.partitions import ensure_partitions
from herald.models import Organization, Segment, SegmentMember
from herald.segments import service as segment_service
from herald.segments.compiler import members_query
from herald.worker import configure_queue

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FULL_PROFILES = 1_000_000
FULL_EVENTS = 20_000_000
SPAN_DAYS = 180
EVENT_FILES = 4
COPY_BLOCK = 1 << 20
# Multiplier of the permutation that spreads the (skewed) activity over profile numbers.
PERMUTATION = 2_147_483_647
TARGET_RECOMPUTE = 60.0
TARGET_INCREMENTAL = 5.0
TARGET_SINGLE_MS = 20.0
META_VERSION = 1

# --- Options ------------------------------------------------------------------------------------


@dataclass
class Options:
    scale: float
    seed: int
    postgres_url: str
    keep_database: bool
    workdir: Path | None
    new_events: int
    batch_size: int
    profiles: int
    duckdb_threads: int
    duckdb_memory: str
    pg_settings: dict[str, str]
    explain: bool

    @property
    def profile_count(self) -> int:
        return max(100, round(FULL_PROFILES * self.scale))

    @property
    def event_count(self) -> int:
        return max(2_000, round(FULL_EVENTS * self.scale))

    @property
    def tag(self) -> str:
        scale = f"{self.scale:g}".replace(".", "p").replace("-", "m")
        return f"{scale}_s{self.seed}"


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python bench/segments.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--scale",
        type=float,
        default=1.0,
        help="1.0 = 1,000,000 profiles and 20,000,000 events; 0.05 runs in a few minutes "
        "(%(default)s)",
    )
    add("--seed", type=int, default=42, help="seed of the generated data (%(default)s)")
    add(
        "--postgres-url",
        default=ADMIN_URL,
        help="PostgreSQL server for the scratch database; the role needs CREATEDB (%(default)s)",
    )
    add(
        "--keep-database",
        action="store_true",
        help="keep the database herald_bench_segments_<scale>_s<seed> and the work directory "
        "(CSV files, DuckDB file) and reuse them on the next run with the same scale and seed",
    )
    add(
        "--workdir",
        type=Path,
        default=None,
        help="where the CSV files and the DuckDB database go (default: a temporary directory, "
        "or $TMPDIR/herald_bench_segments_<scale>_s<seed> with --keep-database)",
    )
    add(
        "--new-events",
        type=int,
        default=10_000,
        help="events of the incremental step (%(default)s)",
    )
    add("--batch-size", type=int, default=1000, help="events per ingest call (%(default)s)")
    add(
        "--profiles",
        type=int,
        default=50,
        help="profiles whose single re-evaluation is timed (%(default)s)",
    )
    add("--duckdb-threads", type=int, default=os.cpu_count() or 2, help="(%(default)s)")
    add("--duckdb-memory", default="6GB", help="DuckDB memory_limit (%(default)s)")
    add(
        "--pg-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting for Herald's connections, e.g. work_mem=64MB (repeatable; "
        "default: the server's settings)",
    )
    add(
        "--explain",
        action="store_true",
        help="print EXPLAIN ANALYZE of the slowest recompute even when the target is met",
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    if not 1 <= args.batch_size <= 1000:
        parser.error("--batch-size must be 1..1000 (the API's limit)")
    settings: dict[str, str] = {}
    for item in args.pg_set:
        name, sep, value = item.partition("=")
        if not sep or not name.replace("_", "").replace(".", "").isalnum():
            parser.error(f"--pg-set takes NAME=VALUE, not {item!r}")
        settings[name] = value
    return Options(
        scale=args.scale,
        seed=args.seed,
        postgres_url=args.postgres_url,
        keep_database=args.keep_database,
        workdir=args.workdir,
        new_events=max(0, args.new_events),
        batch_size=args.batch_size,
        profiles=max(1, args.profiles),
        duckdb_threads=max(1, args.duckdb_threads),
        duckdb_memory=args.duckdb_memory,
        pg_settings=settings,
        explain=args.explain,
    )


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


# --- Data: distributions -----------------------------------------------------------------------

COUNTRIES: tuple[tuple[str | None, int, tuple[str, ...]], ...] = (
    ("US", 38, ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Seattle", "Austin")),
    ("GB", 12, ("London", "Manchester", "Birmingham", "Leeds", "Glasgow")),
    ("DE", 10, ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt")),
    ("FR", 8, ("Paris", "Lyon", "Marseille", "Toulouse", "Lille")),
    ("CA", 7, ("Toronto", "Vancouver", "Montreal", "Calgary")),
    ("AU", 5, ("Sydney", "Melbourne", "Brisbane", "Perth")),
    ("ES", 4, ("Madrid", "Barcelona", "Valencia")),
    ("IT", 4, ("Rome", "Milan", "Naples", "Turin")),
    ("NL", 3, ("Amsterdam", "Rotterdam", "Utrecht")),
    ("BR", 3, ("São Paulo", "Rio de Janeiro", "Belo Horizonte")),
    ("JP", 3, ("Tokyo", "Osaka", "Yokohama")),
    ("SE", 1, ("Stockholm", "Gothenburg")),
    (None, 2, ()),
)
FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas",
    "Mia", "Mateo", "Isabella", "Levi", "Charlotte", "Hugo", "Léa", "Jonas", "Sofia", "Yuki",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Martin", "Müller",
    "Schmidt", "Dubois", "Rossi", "Tanaka", "Silva", "Jansen", "Andersson", "Taylor", "Wilson",
    "O'Brien", "López",
)  # fmt: skip
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "example.com")
PLANS: tuple[tuple[str | None, int], ...] = (
    ("free", 55),
    ("basic", 25),
    ("pro", 12),
    ("enterprise", 3),
    (None, 5),
)
# (metric, weight): a shop's funnel plus its email engagement.
METRICS: tuple[tuple[str | None, int], ...] = (
    ("Active on Site", 30),
    ("Viewed Product", 26),
    ("Opened Email", 15),
    ("Added to Cart", 10),
    ("Clicked Email", 7),
    ("Started Checkout", 5),
    ("Placed Order", 4),
    ("Subscribed to List", 3),
)
CATEGORIES: tuple[tuple[str | None, int], ...] = (
    ("apparel", 30),
    ("shoes", 15),
    ("home", 15),
    ("electronics", 12),
    ("beauty", 10),
    ("sports", 8),
    ("toys", 5),
    ("books", 5),
)
PAGES: tuple[tuple[str | None, int], ...] = (
    ("/", 40),
    ("/sale", 20),
    ("/new", 15),
    ("/blog", 10),
    ("/account", 10),
    ("/help", 5),
)
LISTS: tuple[tuple[str | None, int], ...] = (("Newsletter", 70), ("VIP", 10), ("Back in Stock", 20))
# Share of profiles that ever do anything; the rest only exist (imported, never active).
ACTIVE_SHARE = 0.75
# Activity skew: profile number ~ active * u^SKEW, so the busiest 1% send about 12% of events.
SKEW = 2.2


def _literal(value: str | None) -> str:
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def _pick(hash_expr: str, choices: Sequence[tuple[str | None, int]]) -> str:
    """A weighted choice as a CASE over a hash."""
    total = sum(weight for _, weight in choices)
    arms = []
    bound = 0
    for value, weight in choices:
        bound += weight
        arms.append(f"WHEN {hash_expr} % {total} < {bound} THEN {_literal(value)}")
    return "(CASE " + " ".join(arms) + " END)"


def _list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


@dataclass
class DataSpec:
    """What one data set is: enough to regenerate it identically."""

    seed: int
    profiles: int
    events: int
    anchor: datetime  # the end of the data and the frozen "now" of the run
    org_id: uuid.UUID

    @property
    def anchor_ms(self) -> int:
        return int(self.anchor.timestamp() * 1000)

    @property
    def anchor_sql(self) -> str:
        """The anchor as a DuckDB TIMESTAMP literal (naive, UTC)."""
        return f"TIMESTAMP '{self.anchor.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": META_VERSION,
            "seed": self.seed,
            "profiles": self.profiles,
            "events": self.events,
            "anchor": self.anchor.isoformat(),
            "org_id": str(self.org_id),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DataSpec:
        return cls(
            seed=int(raw["seed"]),
            profiles=int(raw["profiles"]),
            events=int(raw["events"]),
            anchor=datetime.fromisoformat(raw["anchor"]),
            org_id=uuid.UUID(raw["org_id"]),
        )


class Generator:
    """Profiles and events as DuckDB SQL over `range()`: every value is a hash of (seed, row
    number, purpose), so any slice regenerates identically and nothing is held in Python."""

    def __init__(self, spec: DataSpec, connection: Any) -> None:
        self.spec = spec
        self.db = connection
        seed = spec.seed
        self.active = max(1, int(spec.profiles * ACTIVE_SHARE))
        permutation = PERMUTATION
        while math.gcd(permutation, spec.profiles) != 1:
            permutation += 2
        self.permutation = permutation
        execute = self.db.execute
        execute(f"CREATE OR REPLACE MACRO bh(i, k) AS (hash(i, {seed}, k) >> 1)::BIGINT")
        execute("CREATE OR REPLACE MACRO bu(i, k) AS (bh(i, k) % 1000000000) / 1000000000.0")
        # A UUIDv7 like herald.db.new_id: 48 bits of milliseconds, version 7, variant 10.
        execute(
            "CREATE OR REPLACE MACRO uuid7(ms, a, b) AS printf('%08x-%04x-7%03x-%04x-%012x', "
            "ms // 65536, ms % 65536, a % 4096, 32768 + b % 16384, (a // 4096) % 281474976710656)"
        )
        day_ms = 86_400_000
        execute(
            "CREATE OR REPLACE MACRO profile_created_ms(p) AS "
            f"{spec.anchor_ms - day_ms}::BIGINT - (bh(p, 1) % {729 * day_ms})::BIGINT"
        )
        execute(
            "CREATE OR REPLACE MACRO profile_uuid(p) AS "
            "uuid7(profile_created_ms(p), bh(p, 2), bh(p, 3))"
        )
        execute(
            "CREATE OR REPLACE MACRO active_profile(i, k) AS "
            f"(floor({self.active} * pow(bu(i, k), {SKEW}))::BIGINT * {permutation}) "
            f"% {spec.profiles}"
        )

    # Profiles -----------------------------------------------------------------------------------

    def profiles_sql(self) -> str:
        country = _pick("bh(i, 4)", [(c, w) for c, w, _ in COUNTRIES])
        cities = "(CASE country " + " ".join(
            f"WHEN {_literal(c)} THEN {_list(names)}" for c, _, names in COUNTRIES if c
        )
        cities += " END)"
        first = f"{_list(FIRST_NAMES)}[1 + bh(i, 6) % {len(FIRST_NAMES)}]"
        last = f"{_list(LAST_NAMES)}[1 + bh(i, 7) % {len(LAST_NAMES)}]"
        domain = f"{_list(DOMAINS)}[1 + bh(i, 8) % {len(DOMAINS)}]"
        plan = _pick("bh(i, 9)", PLANS)
        # Custom properties, each missing on some profiles; 5% of ages arrive as strings.
        age = (
            "CASE WHEN bh(i, 10) % 100 < 8 THEN NULL "
            "WHEN bh(i, 10) % 100 < 13 THEN '\"age\":\"' || (18 + bh(i, 11) % 63) || '\"' "
            "ELSE '\"age\":' || (18 + bh(i, 11) % 63) END"
        )
        lifetime = (
            "CASE WHEN bh(i, 12) % 10 = 0 THEN NULL ELSE '\"lifetime\":' || "
            "round(pow(bu(i, 13), 3) * 5000, 2)::DECIMAL(12, 2) END"
        )
        birthday = (
            'CASE WHEN bh(i, 14) % 10 < 3 THEN NULL ELSE \'"birthday":"\' || '
            "strftime(DATE '1950-01-01' + (bh(i, 15) % 20000)::INTEGER, '%Y-%m-%d') || '\"' END"
        )
        vip = (
            "CASE WHEN bh(i, 16) % 100 < 6 THEN '\"vip\":true' "
            "WHEN bh(i, 16) % 100 < 66 THEN '\"vip\":false' END"
        )
        plan_json = "CASE WHEN plan IS NULL THEN NULL ELSE '\"plan\":\"' || plan || '\"' END"
        return f"""
            SELECT profile_uuid(i) AS id, '{self.spec.org_id}' AS org_id,
                   lower(replace(strip_accents(first_name), '''', '')) || '.' ||
                   lower(replace(strip_accents(last_name), '''', '')) || '.' || i || '@' || domain
                       AS email,
                   first_name, last_name,
                   CASE WHEN country IS NULL THEN NULL
                        ELSE {cities}[1 + bh(i, 5) % len({cities})] END AS city,
                   country,
                   '{{' || concat_ws(',', {plan_json}, {age}, {lifetime}, {birthday}, {vip})
                       || '}}' AS properties,
                   epoch_ms(profile_created_ms(i)) AS created_at,
                   epoch_ms(profile_created_ms(i)) AS updated_at
            FROM (
                SELECT i, {country} AS country, {first} AS first_name, {last} AS last_name,
                       {domain} AS domain, {plan} AS plan
                FROM range({self.spec.profiles}) r(i)
            )
            ORDER BY created_at, id
        """

    # Events -------------------------------------------------------------------------------------

    def events_sql(self, start: int, stop: int, salt: int, time_ms: str, source: str) -> str:
        """Events `start..stop-1`; `salt` separates the hashes of different streams and
        `time_ms` is an expression of `i` giving each event's time in epoch milliseconds."""
        k = salt * 100

        def h(n: int) -> str:
            return f"bh(i, {k + n})"

        name = _pick(h(1), METRICS)
        category = _pick(h(2), CATEGORIES)
        page = _pick(h(3), PAGES)
        listed = _pick(h(4), LISTS)
        amount = f"round(5 + pow(bu(i, {k + 5}), 2.5) * 600, 2)::DECIMAL(12, 2)"
        properties = f"""CASE name
            WHEN 'Active on Site' THEN '{{"page":"' || page || '"}}'
            WHEN 'Viewed Product' THEN '{{"category":"' || category || '","product_id":"SKU-'
                || ({h(6)} % 5000) || '","price":' || amount || '}}'
            WHEN 'Added to Cart' THEN '{{"category":"' || category || '","amount":' || amount
                || '}}'
            WHEN 'Started Checkout' THEN '{{"amount":' || amount || ',"items":'
                || (1 + {h(7)} % 4) || '}}'
            WHEN 'Placed Order' THEN '{{"category":"' || category || '","amount":' || amount
                || ',"items":' || (1 + {h(7)} % 4) || '}}'
            WHEN 'Opened Email' THEN '{{"campaign":"Campaign ' || (1 + {h(8)} % 40) || '"}}'
            WHEN 'Clicked Email' THEN '{{"campaign":"Campaign ' || (1 + {h(8)} % 40) || '"}}'
            ELSE '{{"list":"' || list || '"}}' END"""
        return f"""
            SELECT uuid7(t, {h(9)}, {h(10)}) AS id, epoch_ms(t) AS time,
                   '{self.spec.org_id}' AS org_id, profile_uuid(p) AS profile_id, name,
                   {properties} AS properties,
                   CASE WHEN name = 'Placed Order' THEN amount END AS value,
                   '{source}' AS source, epoch_ms(t) AS received_at, p AS profile_number
            FROM (
                SELECT i, {time_ms} AS t, active_profile(i, {k + 11}) AS p, {name} AS name,
                       {category} AS category, {page} AS page, {listed} AS list,
                       {amount} AS amount
                FROM range({start}, {stop}) r(i)
            )
            ORDER BY i
        """

    def history_time(self) -> str:
        """Times increasing with the event number over SPAN_DAYS before the anchor, each up to
        an hour early (as a stream of SDK events arrives)."""
        span = SPAN_DAYS * 86_400_000
        first = self.spec.anchor_ms - span
        return (
            f"({first}::BIGINT + ((i + 1) * {span}::HUGEINT // {self.spec.events})::BIGINT - 1 "
            f"- (bh(i, 99) % 3600000)::BIGINT)"
        )

    def write_csv(self, workdir: Path, progress: Progress) -> list[Path]:
        """profiles.csv and EVENT_FILES event files, in time order."""
        files = [workdir / "profiles.csv"]
        task = progress.add_task("generate CSV", total=1 + EVENT_FILES)
        self.db.execute(f"COPY ({self.profiles_sql()}) TO '{files[0]}' (FORMAT csv, HEADER true)")
        progress.advance(task)
        per_file = math.ceil(self.spec.events / EVENT_FILES)
        columns = "id, time, org_id, profile_id, name, properties, value, source, received_at"
        for n in range(EVENT_FILES):
            start, stop = n * per_file, min(self.spec.events, (n + 1) * per_file)
            path = workdir / f"events_{n}.csv"
            query = self.events_sql(start, stop, 1, self.history_time(), "import")
            self.db.execute(
                f"COPY (SELECT {columns} FROM ({query})) TO '{path}' (FORMAT csv, HEADER true)"
            )
            files.append(path)
            progress.advance(task)
        return files

    def new_events(self, count: int) -> list[tuple[Any, ...]]:
        """The incremental step's events, in the six hours before the anchor, as the DuckDB
        table `new_events`; returns (profile_id, email, name, time, value, properties) rows."""
        time_ms = f"({self.spec.anchor_ms}::BIGINT - 1 - (bh(i, 299) % 21600000)::BIGINT)"
        query = self.events_sql(0, count, 2, time_ms, "api")
        self.db.execute(
            "CREATE OR REPLACE TEMP TABLE new_events AS SELECT e.profile_id, p.email, e.name, "
            f"e.time, e.value, e.properties FROM ({query}) e "
            "JOIN ref_profiles p ON p.id = e.profile_id::UUID ORDER BY e.time, e.id"
        )
        rows = self.db.execute("SELECT * FROM new_events").fetchall()
        return [tuple(row) for row in rows]


# --- PostgreSQL ----------------------------------------------------------------------------------

PROFILE_COLUMNS = (
    "id",
    "org_id",
    "email",
    "first_name",
    "last_name",
    "city",
    "country",
    "properties",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = (
    "id",
    "time",
    "org_id",
    "profile_id",
    "name",
    "properties",
    "value",
    "source",
    "received_at",
)


class Postgres:
    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        base, _, _ = admin_url.rpartition("/")
        self.url = f"{base}/{name}"

    def _admin(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def exists(self) -> bool:
        with self._admin() as connection:
            row = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.name,)
            ).fetchone()
        return row is not None

    def create(self) -> None:
        self.drop()
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )

    def connect(self, autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, autocommit=autocommit)

    def describe(self) -> str:
        with self.connect() as connection:
            row = connection.execute(
                "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
                "current_setting('work_mem'), current_setting('max_parallel_workers_per_gather'),"
                " current_setting('effective_cache_size')"
            ).fetchone()
        assert row is not None
        return (
            f"PostgreSQL {row[0]}: shared_buffers {row[1]}, work_mem {row[2]}, "
            f"max_parallel_workers_per_gather {row[3]}, effective_cache_size {row[4]}; "
            f"database {self.name}"
        )

    def checkpoint(self) -> None:
        with contextlib.suppress(psycopg.Error), self.connect() as connection:
            connection.execute("CHECKPOINT")

    def scalar(self, query: LiteralString, params: Sequence[Any] = ()) -> Any:
        with self.connect() as connection:
            row = connection.execute(query, params).fetchone()
        return None if row is None else row[0]

    def load(self, files: list[Path], spec: DataSpec, progress: Progress) -> dict[str, float]:
        """COPY the CSV files in; the events' secondary indexes and foreign keys are dropped
        first and rebuilt after (as a bulk load would), exactly as the migrations defined them."""
        timings: dict[str, float] = {}
        with self.connect() as connection:
            connection.execute("SET TIME ZONE 'UTC'")
            first = spec.anchor - timedelta(days=SPAN_DAYS + 1)
            months = (spec.anchor.year - first.year) * 12 + spec.anchor.month - first.month + 1
            database = Database(self.url)
            with database.engine.begin() as sa_connection:
                ensure_partitions(sa_connection, first.date(), months_ahead=months)
            database.dispose()
            with connection.cursor() as cursor:
                indexes = cursor.execute(
                    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid "
                    "WHERE x.indrelid = 'events'::regclass AND NOT x.indisprimary"
                ).fetchall()
                foreign = cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'events'::regclass AND contype = 'f'"
                ).fetchall()
                for name, _ in foreign:
                    cursor.execute(
                        sql.SQL("ALTER TABLE events DROP CONSTRAINT {}").format(
                            sql.Identifier(name)
                        )
                    )
                for name, _ in indexes:
                    cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))

        started = time.perf_counter()
        self._copy("profiles", PROFILE_COLUMNS, [files[0]], progress)
        timings["COPY profiles"] = time.perf_counter() - started
        started = time.perf_counter()
        self._copy("events", EVENT_COLUMNS, files[1:], progress, parallel=2)
        timings["COPY events"] = time.perf_counter() - started

        task = progress.add_task("build indexes, keys", total=len(indexes) + len(foreign))
        with self.connect() as connection:
            connection.execute("SET maintenance_work_mem = '1GB'")
            for name, definition in indexes:
                started = time.perf_counter()
                # The parent's definition says ON ONLY; without it the partitions get theirs too.
                connection.execute(cast(LiteralString, definition.replace(" ON ONLY ", " ON ")))
                timings[f"index {name}"] = time.perf_counter() - started
                progress.advance(task)
            for name, definition in foreign:
                started = time.perf_counter()
                connection.execute(
                    sql.SQL("ALTER TABLE events ADD CONSTRAINT {} {}").format(
                        sql.Identifier(name), sql.SQL(cast(LiteralString, definition))
                    )
                )
                timings[f"key {name}"] = time.perf_counter() - started
                progress.advance(task)
            started = time.perf_counter()
            task = progress.add_task("VACUUM ANALYZE", total=1)
            connection.execute("VACUUM (ANALYZE) profiles")
            connection.execute("VACUUM (ANALYZE) events")
            progress.advance(task)
            timings["VACUUM ANALYZE"] = time.perf_counter() - started
        self.checkpoint()
        return timings

    def _copy(
        self,
        table: str,
        columns: Sequence[str],
        files: list[Path],
        progress: Progress,
        parallel: int = 1,
    ) -> None:
        total = sum(path.stat().st_size for path in files)
        task = progress.add_task(f"COPY {table} (MB)", total=max(1, total >> 20))
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        lock = threading.Lock()
        errors: list[BaseException] = []
        pending = list(files)

        def work() -> None:
            try:
                with self.connect(autocommit=False) as connection:
                    connection.execute("SET TIME ZONE 'UTC'")
                    while True:
                        with lock:
                            if not pending or errors:
                                break
                            path = pending.pop(0)
                        with (
                            connection.cursor() as cursor,
                            cursor.copy(statement) as copy,
                            path.open("rb") as source,
                        ):
                            while block := source.read(COPY_BLOCK):
                                copy.write(block)
                                progress.advance(task, len(block) / (1 << 20))
                        connection.commit()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(parallel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]


# --- The reference: DuckDB over the same rows ----------------------------------------------------


class Reference:
    def __init__(self, path: Path, threads: int, memory: str) -> None:
        assert duckdb is not None
        self.db = duckdb.connect(str(path))
        self.db.execute(f"SET threads = {threads}")
        self.db.execute(f"SET memory_limit = '{memory}'")
        self.db.execute(f"SET temp_directory = '{path.parent / 'duckdb_tmp'}'")
        self.db.execute("SET preserve_insertion_order = true")

    def loaded(self) -> bool:
        row = self.db.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name IN ('ref_profiles', 'ref_events')"
        ).fetchone()
        return bool(row and row[0] == 2)

    def load(self, files: list[Path]) -> float:
        started = time.perf_counter()
        profiles = {
            "id": "UUID",
            "org_id": "UUID",
            "email": "VARCHAR",
            "first_name": "VARCHAR",
            "last_name": "VARCHAR",
            "city": "VARCHAR",
            "country": "VARCHAR",
            "properties": "JSON",
            "created_at": "TIMESTAMP",
            "updated_at": "TIMESTAMP",
        }
        events = {
            "id": "UUID",
            "time": "TIMESTAMP",
            "org_id": "UUID",
            "profile_id": "UUID",
            "name": "VARCHAR",
            "properties": "JSON",
            "value": "DECIMAL(18, 6)",
            "source": "VARCHAR",
            "received_at": "TIMESTAMP",
        }
        self.db.execute(
            "CREATE OR REPLACE TABLE ref_profiles AS SELECT * FROM read_csv(?, header = true, "
            f"columns = {_struct(profiles)})",
            [str(files[0])],
        )
        self.db.execute(
            "CREATE OR REPLACE TABLE ref_events AS SELECT * FROM read_csv(?, header = true, "
            f"columns = {_struct(events)})",
            [[str(path) for path in files[1:]]],
        )
        self.db.execute("CHECKPOINT")
        return time.perf_counter() - started

    def counts(self) -> tuple[int, int]:
        profiles = self.db.execute("SELECT count(*) FROM ref_profiles").fetchone()
        events = self.db.execute("SELECT count(*) FROM ref_events").fetchone()
        assert profiles is not None and events is not None
        return int(profiles[0]), int(events[0])

    def forget_new_events(self) -> None:
        self.db.execute("DELETE FROM ref_events WHERE source = 'api'")

    def add_events(self) -> None:
        """Append the incremental events (table `new_events`), resolving each profile by its
        email as Herald does."""
        self.db.execute(
            "INSERT INTO ref_events SELECT uuid(), e.time, p.org_id, p.id, e.name, "
            "e.properties::JSON, e.value, 'api', e.time "
            "FROM new_events e JOIN ref_profiles p ON p.email = e.email"
        )

    def members(self, query: str) -> tuple[set[uuid.UUID], float]:
        started = time.perf_counter()
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE answer AS {query}")
        seconds = time.perf_counter() - started
        rows = self.db.execute("SELECT * FROM answer").fetchall()
        return {row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(row[0]) for row in rows}, (
            seconds
        )

    def close(self) -> None:
        self.db.close()


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


# --- The ten segments ----------------------------------------------------------------------------


@dataclass
class SegmentCase:
    name: str
    covers: str
    definition: Callable[[dict[str, uuid.UUID]], dict[str, Any]]
    # DuckDB SQL selecting the member ids; {now} is the frozen instant, {ids[name]} another
    # segment's reference query.
    reference: str


def _in_last(days: int) -> dict[str, Any]:
    return {"type": "in_the_last", "amount": days, "unit": "days"}


def _window(days: int) -> str:
    return f"time >= {{now}} - INTERVAL {days} DAY AND time <= {{now}}"


US_PREMIUM = (
    "SELECT id FROM ref_profiles WHERE country = 'US' "
    "AND properties->>'plan' IN ('pro', 'enterprise')"
)

CASES: tuple[SegmentCase, ...] = (
    SegmentCase(
        "US premium plans",
        "built-in field + custom string property (in)",
        lambda _: {
            "conditions": [
                {"type": "profile", "field": "country", "operator": "equals", "value": "US"},
                {
                    "type": "profile",
                    "property": "plan",
                    "operator": "in",
                    "values": ["pro", "enterprise"],
                },
            ]
        },
        US_PREMIUM,
    ),
    SegmentCase(
        "Adults 25-40, VIP or valuable",
        "numeric property between + nested any (bool, numeric)",
        lambda _: {
            "conditions": [
                {
                    "type": "profile",
                    "property": "age",
                    "operator": "between",
                    "value": 25,
                    "value_to": 40,
                },
                {
                    "type": "group",
                    "match": "any",
                    "conditions": [
                        {"type": "profile", "property": "vip", "operator": "equals", "value": True},
                        {
                            "type": "profile",
                            "property": "lifetime",
                            "operator": "greater_than",
                            "value": 1000,
                        },
                    ],
                },
            ]
        },
        "SELECT id FROM ref_profiles WHERE TRY_CAST(properties->>'age' AS DOUBLE) "
        "BETWEEN 25 AND 40 AND (properties->>'vip' = 'true' "
        "OR TRY_CAST(properties->>'lifetime' AS DOUBLE) > 1000)",
    ),
    SegmentCase(
        "Frequent visitors",
        "did X at least 10 times in 30 days",
        lambda _: {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Active on Site",
                    "operator": "at_least",
                    "value": 10,
                    "window": _in_last(30),
                }
            ]
        },
        "SELECT profile_id FROM ref_events WHERE name = 'Active on Site' AND "
        + _window(30)
        + " GROUP BY profile_id HAVING count(*) >= 10",
    ),
    SegmentCase(
        "Cart abandoners",
        "did A but not B (30 days)",
        lambda _: {
            "conditions": [
                {"type": "event", "metric": "Added to Cart", "window": _in_last(30)},
                {
                    "type": "event",
                    "metric": "Placed Order",
                    "operator": "at_most",
                    "value": 0,
                    "window": _in_last(30),
                },
            ]
        },
        "SELECT profile_id FROM ref_events WHERE name = 'Added to Cart' AND "
        + _window(30)
        + " EXCEPT SELECT profile_id FROM ref_events WHERE name = 'Placed Order' AND "
        + _window(30),
    ),
    SegmentCase(
        "Big spenders",
        "sum of order values >= 500 in 90 days",
        lambda _: {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Placed Order",
                    "measure": "sum",
                    "value": 500,
                    "window": _in_last(90),
                }
            ]
        },
        "SELECT profile_id FROM ref_events WHERE name = 'Placed Order' AND "
        + _window(90)
        + " GROUP BY profile_id HAVING sum(coalesce(value, 0)) >= 500",
    ),
    SegmentCase(
        "Repeat electronics buyers",
        "event property filter, at least 2, all time",
        lambda _: {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Placed Order",
                    "value": 2,
                    "filters": [
                        {"property": "category", "operator": "equals", "value": "electronics"}
                    ],
                }
            ]
        },
        "SELECT profile_id FROM ref_events WHERE name = 'Placed Order' "
        "AND properties->>'category' = 'electronics' GROUP BY profile_id HAVING count(*) >= 2",
    ),
    SegmentCase(
        "Email engaged, never bought",
        "at least 3 in 30 days + negated group (never did B)",
        lambda _: {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Opened Email",
                    "value": 3,
                    "window": _in_last(30),
                },
                {
                    "type": "group",
                    "negate": True,
                    "conditions": [{"type": "event", "metric": "Placed Order"}],
                },
            ]
        },
        "(SELECT profile_id FROM ref_events WHERE name = 'Opened Email' AND "
        + _window(30)
        + " GROUP BY profile_id HAVING count(*) >= 3) "
        "EXCEPT SELECT profile_id FROM ref_events WHERE name = 'Placed Order'",
    ),
    SegmentCase(
        "EU browsers or engaged VIPs",
        "nested groups: all[created > 30 d ago, any[all[country in, viewed >= 5], "
        "all[vip, clicked in 14 d]]]",
        lambda _: {
            "conditions": [
                {
                    "type": "profile",
                    "field": "created_at",
                    "operator": "more_than_ago",
                    "amount": 30,
                },
                {
                    "type": "group",
                    "match": "any",
                    "conditions": [
                        {
                            "type": "group",
                            "conditions": [
                                {
                                    "type": "profile",
                                    "field": "country",
                                    "operator": "in",
                                    "values": ["GB", "DE", "FR"],
                                },
                                {
                                    "type": "event",
                                    "metric": "Viewed Product",
                                    "value": 5,
                                    "window": _in_last(30),
                                },
                            ],
                        },
                        {
                            "type": "group",
                            "conditions": [
                                {
                                    "type": "profile",
                                    "property": "vip",
                                    "operator": "equals",
                                    "value": True,
                                },
                                {
                                    "type": "event",
                                    "metric": "Clicked Email",
                                    "window": _in_last(14),
                                },
                            ],
                        },
                    ],
                },
            ]
        },
        "SELECT id FROM ref_profiles WHERE created_at < {now} - INTERVAL 30 DAY AND ("
        "(country IN ('GB', 'DE', 'FR') AND id IN (SELECT profile_id FROM ref_events "
        "WHERE name = 'Viewed Product' AND " + _window(30) + " GROUP BY profile_id "
        "HAVING count(*) >= 5)) OR (properties->>'vip' = 'true' AND id IN (SELECT profile_id "
        "FROM ref_events WHERE name = 'Clicked Email' AND " + _window(14) + ")))",
    ),
    SegmentCase(
        "Birthday soon, good average order",
        "date property anniversary within 30 days + average value >= 100 in 180 days",
        lambda _: {
            "conditions": [
                {
                    "type": "profile",
                    "property": "birthday",
                    "operator": "anniversary_within",
                    "amount": 30,
                },
                {
                    "type": "event",
                    "metric": "Placed Order",
                    "measure": "average",
                    "value": 100,
                    "window": _in_last(180),
                },
            ]
        },
        "SELECT id FROM ref_profiles WHERE strftime(TRY_CAST(properties->>'birthday' AS DATE), "
        "'%m-%d') IN (SELECT strftime(CAST({now} AS DATE) + CAST(d AS INTEGER), '%m-%d') "
        "FROM range(0, 31) r(d)) AND id IN (SELECT profile_id FROM ref_events "
        "WHERE name = 'Placed Order' AND " + _window(180) + " GROUP BY profile_id "
        "HAVING count(value) > 0 AND sum(value) >= 100 * count(value))",
    ),
    SegmentCase(
        "US premium with big carts",
        "segment membership + numeric event filter (amount > 200) in 60 days",
        lambda ids: {
            "conditions": [
                {"type": "segment", "segment_id": str(ids["US premium plans"])},
                {
                    "type": "event",
                    "metric": "Added to Cart",
                    "window": _in_last(60),
                    "filters": [{"property": "amount", "operator": "greater_than", "value": 200}],
                },
            ]
        },
        US_PREMIUM + " AND id IN (SELECT profile_id FROM ref_events WHERE name = 'Added to Cart' "
        "AND " + _window(60) + " AND TRY_CAST(properties->>'amount' AS DOUBLE) > 200)",
    ),
)


# --- Herald helpers ------------------------------------------------------------------------------


class Explain(Executable, ClauseElement):
    """EXPLAIN (ANALYZE, BUFFERS) of a SELECT, with its parameters bound as Herald binds them."""

    inherit_cache = False

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, BUFFERS, SETTINGS) " + compiler.process(element.statement, **kw)


@dataclass
class Timed:
    name: str
    seconds: float
    members: int
    reference_seconds: float = 0.0
    reference_members: int = 0
    missing: list[uuid.UUID] = field(default_factory=list)  # in DuckDB's answer only
    extra: list[uuid.UUID] = field(default_factory=list)  # in Herald's answer only

    @property
    def matches(self) -> bool:
        return not self.missing and not self.extra


class StatementTimer:
    """Statements a phase ran, by kind, and their time, from SQLAlchemy's cursor events."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self._started: dict[int, float] = {}
        self.active = False
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if self.active:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, _conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started = self._started.pop(id(cursor), None)
        if started is None:
            return
        words = statement.split()
        kind = " ".join(words[:3]) if words else "?"
        if words and words[0] == "SELECT" and "FROM profiles" in statement:
            kind = "SELECT members (profiles ⟕ events)"
        entry = self.by_kind[kind[:60]]
        entry[0] += 1
        entry[1] += time.perf_counter() - started

    @contextlib.contextmanager
    def phase(self) -> Iterator[None]:
        self.by_kind.clear()
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def report(self, title: str) -> None:
        table = Table(title=title, title_justify="left")
        table.add_column("statement")
        table.add_column("count", justify="right")
        table.add_column("seconds", justify="right")
        for kind, (count, seconds) in sorted(self.by_kind.items(), key=lambda kv: -kv[1][1])[:8]:
            table.add_row(kind, f"{int(count):,}", f"{seconds:.3f}")
        console.print(table)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- The run -------------------------------------------------------------------------------------


class Bench:
    def __init__(self, options: Options, workdir: Path, pg: Postgres) -> None:
        self.options = options
        self.workdir = workdir
        self.pg = pg
        self.spec: DataSpec | None = None
        self.reference: Reference | None = None
        self.database: Database | None = None
        self.segments: dict[str, uuid.UUID] = {}
        self.load_timings: dict[str, float] = {}

    # Data ---------------------------------------------------------------------------------------

    def meta_path(self) -> Path:
        return self.workdir / "meta.json"

    def prepare_data(self) -> DataSpec:
        options = self.options
        assert duckdb is not None
        reused = self._reusable()
        self.reference = Reference(
            self.workdir / "reference.duckdb", options.duckdb_threads, options.duckdb_memory
        )
        if reused is not None and self.reference.loaded():
            console.print(
                f"[bold]Reusing[/bold] {self.pg.name} and {self.workdir} (data of "
                f"{reused.anchor:%Y-%m-%d %H:%M} UTC)"
            )
            self._clean_previous_run()
            self.reference.forget_new_events()
            self.spec = reused
            return reused
        anchor = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        spec = DataSpec(
            seed=options.seed,
            profiles=options.profile_count,
            events=options.event_count,
            anchor=anchor,
            org_id=uuid.uuid5(uuid.NAMESPACE_URL, f"herald-bench-segments-{options.seed}"),
        )
        self.spec = spec
        started = time.perf_counter()
        self.pg.create()
        from herald.migrations import upgrade

        upgrade(self.pg.url)
        self.load_timings["create + migrate"] = time.perf_counter() - started
        database = Database(self.pg.url)
        with database.transaction() as session:
            session.add(Organization(id=spec.org_id, name="Bench Segments"))
        database.dispose()
        with progress_bar() as progress:
            started = time.perf_counter()
            generator = Generator(spec, self.reference.db)
            files = generator.write_csv(self.workdir, progress)
            self.load_timings["generate CSV (DuckDB)"] = time.perf_counter() - started
            size = sum(path.stat().st_size for path in files)
            self.load_timings.update(self.pg.load(files, spec, progress))
            task = progress.add_task("load DuckDB", total=1)
            self.load_timings["load DuckDB"] = self.reference.load(files)
            progress.advance(task)
        console.print(f"[dim]CSV: {size / 1e9:.2f} GB in {len(files)} files[/dim]")
        if not options.keep_database:
            for path in files:
                path.unlink()
        self.meta_path().write_text(json.dumps(spec.to_json()))
        return spec

    def _reusable(self) -> DataSpec | None:
        if not self.options.keep_database or not self.meta_path().exists():
            return None
        try:
            spec = DataSpec.from_json(json.loads(self.meta_path().read_text()))
        except (ValueError, KeyError):
            return None
        wanted = (self.options.seed, self.options.profile_count, self.options.event_count)
        if (spec.seed, spec.profiles, spec.events) != wanted or not self.pg.exists():
            return None
        return spec

    def _clean_previous_run(self) -> None:
        """What an earlier run added on top of the loaded data."""
        with self.pg.connect() as connection:
            for statement in (
                "DELETE FROM segments",
                "DELETE FROM jobs",
                "DELETE FROM profile_changes",
                "DELETE FROM event_keys",
                "DELETE FROM events WHERE source = 'api'",
            ):
                connection.execute(cast(LiteralString, statement))
            # VACUUM truncates the emptied tables, which leaves them as a fresh load has them.
            # Analyzed while empty but with pages left, profile_changes makes take_changes'
            # `id IN (SELECT … LIMIT … FOR UPDATE SKIP LOCKED)` a nested loop that re-runs the
            # locking subquery for every row: 18 s instead of 0.05 s for 8,500 rows.
            for table in (
                "events",
                "segment_members",
                "segment_history",
                "profile_changes",
                "event_keys",
                "jobs",
                "segments",
            ):
                connection.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))

    def check_counts(self) -> None:
        assert self.spec is not None and self.reference is not None
        pg_profiles = self.pg.scalar("SELECT count(*) FROM profiles")
        pg_events = self.pg.scalar("SELECT count(*) FROM events")
        ref_profiles, ref_events = self.reference.counts()
        console.print(
            f"[bold]Data[/bold]  PostgreSQL {pg_profiles:,} profiles, {pg_events:,} events; "
            f"DuckDB {ref_profiles:,} profiles, {ref_events:,} events; "
            f"events over {SPAN_DAYS} days before {self.spec.anchor:%Y-%m-%d %H:%M} UTC"
        )
        expected = (self.spec.profiles, self.spec.events)
        if (pg_profiles, pg_events) != expected or (ref_profiles, ref_events) != expected:
            raise RuntimeError(f"row counts differ from the generated {expected}")

    # Herald -------------------------------------------------------------------------------------

    def configure_herald(self) -> Database:
        assert self.spec is not None
        database = configure_database(self.pg.url)
        settings = self.options.pg_settings
        if settings:

            def apply(dbapi_connection: Any, _record: Any) -> None:
                with dbapi_connection.cursor() as cursor:
                    for name, value in settings.items():
                        cursor.execute(
                            sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
                        )
                dbapi_connection.commit()

            sa.event.listen(database.engine, "connect", apply)
            database.engine.dispose()
        # Kicks go to a SQLite queue that no worker reads: the recompute jobs create_segment
        # queues never run, the benchmark calls recompute itself.
        configure_queue(redis_url=None, data_dir=self.workdir / "queue", immediate=False)
        # Freeze the segment clock at the data's anchor (see the module's docstring).
        frozen = self.spec.anchor
        segment_service.utcnow = lambda: frozen  # type: ignore[attr-defined]
        self.database = database
        return database

    def create_segments(self) -> None:
        assert self.database is not None and self.spec is not None
        with self.database.transaction() as session:
            for case in CASES:
                segment = segment_service.create_segment(
                    session,
                    self.spec.org_id,
                    name=case.name,
                    description=case.covers,
                    definition=case.definition(self.segments),
                )
                self.segments[case.name] = segment.id

    def recompute_all(self, timer: StatementTimer) -> list[Timed]:
        assert self.database is not None
        results: list[Timed] = []
        self.recompute_statements: dict[str, list[tuple[str, int, float]]] = {}
        with progress_bar() as progress:
            task = progress.add_task("recompute", total=len(CASES))
            for case in CASES:
                started = time.perf_counter()
                with timer.phase(), self.database.transaction() as session:
                    segment = session.get(Segment, self.segments[case.name])
                    assert segment is not None
                    outcome = segment_service.recompute(session, segment)
                seconds = time.perf_counter() - started
                self.recompute_statements[case.name] = sorted(
                    ((kind, int(n), t) for kind, (n, t) in timer.by_kind.items()),
                    key=lambda item: -item[2],
                )
                results.append(Timed(case.name, seconds, outcome["members"]))
                progress.advance(task)
        return results

    def herald_members(self, segment_id: uuid.UUID) -> set[uuid.UUID]:
        assert self.database is not None
        with self.database.transaction() as session:
            return set(
                session.scalars(
                    sa.select(SegmentMember.profile_id).where(
                        SegmentMember.segment_id == segment_id
                    )
                )
            )

    def compare(self, results: list[Timed]) -> None:
        assert self.reference is not None and self.spec is not None
        with progress_bar() as progress:
            task = progress.add_task("DuckDB reference", total=len(results))
            references: dict[str, str] = {}
            for case, timed in zip(CASES, results, strict=True):
                query = case.reference.replace("{now}", self.spec.anchor_sql)
                references[case.name] = query
                expected, seconds = self.reference.members(query)
                actual = self.herald_members(self.segments[case.name])
                timed.reference_seconds = seconds
                timed.reference_members = len(expected)
                timed.missing = sorted(expected - actual)
                timed.extra = sorted(actual - expected)
                if len(actual) != timed.members:
                    timed.extra.append(uuid.UUID(int=0))  # the counted members disagree
                progress.advance(task)

    def explain(self, name: str, profile_ids: Sequence[uuid.UUID] | None = None) -> None:
        assert self.database is not None and self.spec is not None
        with self.database.transaction() as session:
            segment = session.get(Segment, self.segments[name])
            assert segment is not None
            definition = segment_service.parse_definition(segment.definition)
            load = segment_service.definition_loader(session, self.spec.org_id)
            query = members_query(definition, self.spec.org_id, self.spec.anchor, load, profile_ids)
            rows = session.execute(Explain(query)).scalars().all()
        label = f"{len(profile_ids)} profiles" if profile_ids is not None else "full"
        console.print(f"\n[bold]EXPLAIN (ANALYZE, BUFFERS) of {name!r} ({label})[/bold]")
        console.print("\n".join(str(row) for row in rows), markup=False, soft_wrap=True)

    # Incremental ------------------------------------------------------------------------------

    def incremental(
        self, timer: StatementTimer
    ) -> tuple[float, float, int, dict[str, list[tuple[float, int]]], list[uuid.UUID]]:
        """Ingest the new events, then process the changes. Returns (ingest seconds, process
        seconds, change rows, per-segment evaluate_profiles seconds, touched profiles)."""
        assert self.database is not None and self.spec is not None and self.reference is not None
        generator = Generator(self.spec, self.reference.db)
        rows = generator.new_events(self.options.new_events)
        raw = [
            {
                "event": name,
                "profile": {"email": email},
                "properties": json.loads(properties),
                **({"value": float(value)} if value is not None else {}),
                "time": moment.replace(tzinfo=UTC).isoformat(),
                "unique_id": f"bench-segments-{self.spec.seed}-{n}",
            }
            for n, (_, email, name, moment, value, properties) in enumerate(rows)
        ]
        adapter = TypeAdapter(list[event_schemas.TrackEvent])
        size = self.options.batch_size
        started = time.perf_counter()
        with progress_bar() as progress:
            task = progress.add_task("ingest (batches)", total=len(raw))
            for start in range(0, len(raw), size):
                batch = adapter.validate_python(raw[start : start + size])
                with self.database.transaction() as session:
                    outcomes = event_service.ingest(
                        session, self.spec.org_id, [events_batch.event_input(e) for e in batch]
                    )
                bad = [o for o in outcomes if o.error is not None or o.duplicate]
                if bad:
                    raise RuntimeError(f"ingest refused events: {bad[:3]}")
                progress.advance(task, len(batch))
        ingest_seconds = time.perf_counter() - started
        self.reference.add_events()
        changes = int(self.pg.scalar("SELECT count(*) FROM profile_changes"))
        stored = int(self.pg.scalar("SELECT count(*) FROM events WHERE source = 'api'"))
        if stored != len(raw):
            raise RuntimeError(f"{stored} new events stored, {len(raw)} sent")

        per_segment: dict[str, list[tuple[float, int]]] = defaultdict(list)
        names = {segment_id: name for name, segment_id in self.segments.items()}
        original = segment_service.evaluate_profiles

        def timed_evaluate(
            session: Session, segments: Iterable[Segment], profile_ids: Sequence[uuid.UUID]
        ) -> dict[str, int]:
            segments = list(segments)
            begun = time.perf_counter()
            try:
                return original(session, segments, profile_ids)
            finally:
                key = ", ".join(names.get(s.id, "?") for s in segments)
                per_segment[key].append((time.perf_counter() - begun, len(profile_ids)))

        self.pg.checkpoint()
        segment_service.evaluate_profiles = timed_evaluate  # type: ignore[assignment]
        try:
            with timer.phase():
                started = time.perf_counter()
                taken = 0
                while True:
                    n = segment_service.process_changes(self.database)
                    taken += n
                    if n == 0:
                        break
                process_seconds = time.perf_counter() - started
        finally:
            segment_service.evaluate_profiles = original  # type: ignore[assignment]
        left = int(self.pg.scalar("SELECT count(*) FROM profile_changes"))
        if left or taken != changes:
            raise RuntimeError(f"profile_changes: {changes} written, {taken} taken, {left} left")
        touched = list(dict.fromkeys(uuid.UUID(str(row[0])) for row in rows))
        return ingest_seconds, process_seconds, changes, per_segment, touched

    # Single profile ---------------------------------------------------------------------------

    def single_profile(
        self, profile_ids: list[uuid.UUID]
    ) -> tuple[list[float], dict[str, list[float]]]:
        """Milliseconds of evaluate_profiles for one profile over all segments, and per
        segment."""
        assert self.database is not None and self.spec is not None
        overall: list[float] = []
        per_segment: dict[str, list[float]] = defaultdict(list)
        with progress_bar() as progress:
            task = progress.add_task("evaluate one profile", total=len(profile_ids))
            for profile_id in profile_ids:
                with self.database.transaction() as session:
                    segments = list(
                        session.scalars(
                            sa.select(Segment)
                            .where(Segment.org_id == self.spec.org_id)
                            .order_by(Segment.created_at, Segment.name)
                        )
                    )
                    started = time.perf_counter()
                    segment_service.evaluate_profiles(session, segments, [profile_id])
                    overall.append((time.perf_counter() - started) * 1000)
                    for segment in segments:
                        started = time.perf_counter()
                        segment_service.evaluate_profiles(session, [segment], [profile_id])
                        per_segment[segment.name].append((time.perf_counter() - started) * 1000)
                progress.advance(task)
        return overall, per_segment

    # Report -----------------------------------------------------------------------------------

    def report_segments(self, title: str, results: list[Timed], herald_label: str) -> None:
        table = Table(title=title, title_justify="left")
        for column in (
            "#",
            "segment",
            herald_label,
            "members",
            "DuckDB s",
            "Herald / DuckDB",
            "sets",
        ):
            table.add_column(column, justify="left" if column == "segment" else "right")
        for n, timed in enumerate(results, 1):
            ratio = timed.seconds / timed.reference_seconds if timed.reference_seconds else 0.0
            table.add_row(
                str(n),
                timed.name,
                f"{timed.seconds:.2f}" if timed.seconds else "-",
                f"{timed.members:,}",
                f"{timed.reference_seconds:.3f}",
                f"{ratio:.1f}x" if timed.seconds else "-",
                "[green]equal[/green]"
                if timed.matches
                else f"[red]-{len(timed.missing):,} +{len(timed.extra):,}[/red]",
            )
        total = sum(t.seconds for t in results)
        reference_total = sum(t.reference_seconds for t in results)
        table.add_row(
            "",
            "total",
            f"{total:.2f}" if total else "-",
            "",
            f"{reference_total:.3f}",
            f"{total / reference_total:.1f}x" if total and reference_total else "-",
            "",
        )
        console.print(table)
        for timed in results:
            if not timed.matches:
                console.print(
                    f"[red]{timed.name}: {len(timed.missing):,} profiles only in DuckDB's answer "
                    f"(first: {[str(p) for p in timed.missing[:5]]}), {len(timed.extra):,} only "
                    f"in Herald's (first: {[str(p) for p in timed.extra[:5]]})[/red]"
                )


def _verdict(value: float, target: float, unit: str) -> str:
    met = "[green]met[/green]" if value <= target else "[red]missed[/red]"
    return f"≤ {target:g} {unit} → {value:.3g} {unit} {met}"


def run(options: Options, bench: Bench) -> int:
    spec = bench.prepare_data()
    table = Table(title="Setup (seconds)", title_justify="left")
    table.add_column("step")
    table.add_column("s", justify="right")
    for step, seconds in bench.load_timings.items():
        table.add_row(step, f"{seconds:.1f}")
    if bench.load_timings:
        console.print(table)
    bench.check_counts()
    console.print(f"[bold]Database[/bold]  {bench.pg.describe()}")
    if options.pg_settings:
        console.print(f"[bold]Herald's sessions set[/bold]  {options.pg_settings}")
    database = bench.configure_herald()
    timer = StatementTimer(database.engine)
    status = 0

    bench.create_segments()
    with bench.pg.connect() as connection:
        connection.execute("ANALYZE")
    bench.pg.checkpoint()
    console.print(
        f"[bold]Segments[/bold]  {len(CASES)} created; segment clock frozen at "
        f"{spec.anchor:%Y-%m-%d %H:%M} UTC"
    )
    full = bench.recompute_all(timer)
    bench.compare(full)
    bench.report_segments("Full recompute (each in its own transaction)", full, "Herald s")
    total = sum(t.seconds for t in full)
    if not all(t.matches for t in full):
        status = 1
    slowest = max(full, key=lambda t: t.seconds)
    for timed in full:
        top = bench.recompute_statements[timed.name][:3]
        console.print(
            f"[dim]{timed.name}: "
            + "; ".join(f"{kind} {seconds:.2f} s" for kind, _, seconds in top)
            + "[/dim]"
        )
    if total > TARGET_RECOMPUTE or options.explain:
        bench.explain(slowest.name)

    # Incremental.
    ingest_s, process_s, changes, per_segment, touched = bench.incremental(timer)
    console.print(
        f"\n[bold]Incremental[/bold]  {options.new_events:,} events over {len(touched):,} "
        f"profiles ingested in {ingest_s:.2f} s ({options.new_events / ingest_s:,.0f} events/s, "
        f"batches of {options.batch_size}); {changes:,} profile_changes rows processed by "
        f"process_changes in [bold]{process_s:.2f} s[/bold]"
    )
    table = Table(title="process_changes: evaluate_profiles by segment", title_justify="left")
    table.add_column("segment")
    table.add_column("calls", justify="right")
    table.add_column("profiles", justify="right")
    table.add_column("seconds", justify="right")
    slowest_incremental = ("", 0.0)
    for key, calls in per_segment.items():
        seconds = sum(c[0] for c in calls)
        table.add_row(key, str(len(calls)), f"{sum(c[1] for c in calls):,}", f"{seconds:.3f}")
        if seconds > slowest_incremental[1]:
            slowest_incremental = (key, seconds)
    console.print(table)
    timer.report("process_changes: statements")
    after = [Timed(t.name, 0.0, 0) for t in full]
    for timed in after:
        timed.members = len(bench.herald_members(bench.segments[timed.name]))
    bench.compare(after)
    bench.report_segments(
        "After the incremental update: Herald's members against DuckDB", after, "-"
    )
    if not all(t.matches for t in after):
        status = 1
    explain_incremental = process_s > TARGET_INCREMENTAL or options.explain
    if explain_incremental and slowest_incremental[0] in bench.segments:
        bench.explain(slowest_incremental[0], touched[: segment_service.CHANGE_BATCH])

    # Single profile.
    sample = touched[:: max(1, len(touched) // options.profiles)][: options.profiles]
    with timer.phase():
        overall, per_segment_ms = bench.single_profile(sample)
    sql_seconds = sum(seconds for _, seconds in timer.by_kind.values())
    evaluated_seconds = (sum(overall) + sum(map(sum, per_segment_ms.values()))) / 1000
    console.print(
        f"\n[bold]One profile, all {len(CASES)} segments[/bold] (evaluate_profiles, "
        f"{len(sample)} profiles): median {statistics.median(overall):.1f} ms, "
        f"p90 {_pct(overall, 0.9):.1f} ms, max {max(overall):.1f} ms"
    )
    console.print(
        f"  SQL statements (execute to result, PostgreSQL's time included) took about "
        f"{sql_seconds / evaluated_seconds:.0%} of evaluate_profiles' time; the rest is Python "
        "(parsing the definition, compiling the query, ORM)"
    )
    timer.report("one profile: statements")
    table = Table(title="One profile, one segment (median ms)", title_justify="left")
    table.add_column("segment")
    table.add_column("ms", justify="right")
    for name, ms in per_segment_ms.items():
        table.add_row(name, f"{statistics.median(ms):.1f}")
    console.print(table)

    console.print("\n[bold]Targets[/bold]")
    console.print(f"  all {len(CASES)} recomputes: {_verdict(total, TARGET_RECOMPUTE, 's')}")
    console.print(f"  incremental update:  {_verdict(process_s, TARGET_INCREMENTAL, 's')}")
    console.print(
        "  one profile, all segments (median): "
        + _verdict(statistics.median(overall), TARGET_SINGLE_MS, "ms")
    )
    sets = all(t.matches for t in full + after)
    console.print(
        "  member sets equal to DuckDB's: "
        + ("[green]yes, before and after[/green]" if sets else "[red]NO[/red]")
    )
    load = os.getloadavg()
    console.print(
        f"[dim]scale {options.scale:g}: {spec.profiles:,} profiles, {spec.events:,} events, "
        f"seed {spec.seed}; {os.cpu_count()} cores, load average now {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f}[/dim]"
    )
    return status


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if duckdb is None:
        console.print(
            "[red]DuckDB is missing: .venv/bin/pip install -e '.[bench]' (see bench/README.md)"
            "[/red]"
        )
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if options.keep_database:
        name = f"herald_bench_segments_{options.tag}"
        workdir = options.workdir or Path(tempfile.gettempdir()) / name
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        name = f"herald_bench_segments_{secrets.token_hex(4)}"
        workdir = options.workdir or Path(tempfile.mkdtemp(prefix="herald-bench-segments-"))
        workdir.mkdir(parents=True, exist_ok=True)
    pg = Postgres(options.postgres_url, name)
    bench = Bench(options, workdir, pg)
    console.print(
        f"[bold]Herald segmentation benchmark[/bold]: scale {options.scale:g} "
        f"({options.profile_count:,} profiles, {options.event_count:,} events), seed "
        f"{options.seed}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        f"work directory {workdir}"
    )
    status = 1
    try:
        status = run(options, bench)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; cleaning up.[/yellow]")
        status = 130
    except Exception:
        console.print_exception(max_frames=8)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if bench.database is not None:
            bench.database.dispose()
        if bench.reference is not None:
            bench.reference.close()
        if options.keep_database:
            console.print(f"[yellow]Kept database {pg.name} and {workdir}[/yellow]")
        else:
            try:
                pg.drop()
            except Exception as exc:
                console.print(f"[red]Could not drop {pg.name}: {exc}[/red]")
            if options.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
