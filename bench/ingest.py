"""Event ingestion benchmark: Herald's HTTP API against the database's own bulk load.

One run creates a scratch database, migrates it, creates an organization, starts Herald's API
server(s) on a free loopback port and then measures, on the same deterministic events:

  1. batched   POST /api/track/batch, `--batch-size` events a request, `--batch-concurrency`
               requests in flight;
  2. dedupe    the first `--resend` events sent again in batches (all must come back duplicate);
  3. single    POST /api/track, one event a request, `--single-concurrency` in flight;
  4. reference the same rows (profiles, events, event keys) loaded with the database's fastest
               bulk path into copies of Herald's tables (same columns, indexes, primary keys,
               unique and foreign keys): PostgreSQL COPY, SQLite executemany in one transaction.

It prints events/s, requests/s, latencies, CPU use of the client, the server and PostgreSQL, the
ratio of each HTTP phase to the reference and the server's resident memory over the run, and
checks that the database holds exactly the events that were sent. The scratch database and the
server processes are removed at the end, also on error or Ctrl-C. Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, LiteralString, cast

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

try:
    import uvloop
except ImportError:  # only speed: the standard loop works too
    uvloop = None  # type: ignore[assignment]

if __package__ in (None, ""):  # run as `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadclient, procstat, pyspy
from bench.events_data import CHUNK, EventStream
from herald.db import new_id
from herald.events.storing import EVENT_COLUMNS

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
REFERENCE_CHUNK = 50_000
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MB = 1024
RETRIES = 3
# Single events: requests a kept-alive connection carries before the client opens a new one.
SINGLE_REQUESTS_PER_CONNECTION = 100


# --- Options ------------------------------------------------------------------------------------


@dataclass
class Options:
    events: int
    single: int
    resend: int
    batch_size: int
    batch_concurrency: int
    single_concurrency: int
    database: str
    postgres_url: str
    workers: int
    seed: int
    log_level: str
    time_limit: float
    keep: bool
    py_spy: Path | None
    skip_reference: bool
    client: str
    limits: str
    redis_url: str | None


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python bench/ingest.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--events", type=int, default=1_000_000, help="events sent in batches (%(default)s)")
    add("--single", type=int, default=20_000, help="events sent one a request (%(default)s)")
    add(
        "--resend",
        type=int,
        default=None,
        help="events of the batched phase sent again to measure de-duplication "
        "(default: min(10000, events); 0 skips)",
    )
    add("--batch-size", type=int, default=1000, help="events a batch request (%(default)s)")
    add(
        "--batch-concurrency",
        type=int,
        default=3,
        help="batches in flight (%(default)s): with one per server process, both waited for "
        "PostgreSQL (commits, round trips) a fifth of the time and left the cores idle",
    )
    add(
        "--single-concurrency", type=int, default=24, help="single requests in flight (%(default)s)"
    )
    add(
        "--database",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="a scratch PostgreSQL database (herald_bench_<random>) or SQLite in a temporary "
        "directory (%(default)s)",
    )
    add(
        "--postgres-url",
        default=ADMIN_URL,
        help="PostgreSQL server to create the scratch database on; the role needs CREATEDB "
        "(%(default)s)",
    )
    add(
        "--workers",
        type=int,
        default=None,
        help="API server processes: `herald serve --workers K` (default: 2 on PostgreSQL, "
        "1 on SQLite)",
    )
    add("--seed", type=int, default=42, help="seed of the event stream (%(default)s)")
    add(
        "--log-level",
        default="info",
        help="server log level; `info` keeps uvicorn's access log on, as `herald serve` ships "
        "(%(default)s)",
    )
    add(
        "--time-limit",
        type=float,
        default=3600,
        help="seconds; phases stop sending when it is reached (%(default)s)",
    )
    add("--keep", action="store_true", help="keep the scratch database and temporary directory")
    add(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="profile the server with py-spy during the HTTP phases, write collapsed stacks to "
        "DIR and print the hot spots (numbers measured while profiling are a little lower)",
    )
    add("--skip-reference", action="store_true", help="do not run the bulk-load reference")
    add(
        "--limits",
        choices=("compare", "on", "off"),
        default="compare",
        help="rate limits during the single phase: `compare` runs it in four alternating "
        "quarters, off / on / off / on, against two servers (one with HERALD_RATE_LIMITS=false) "
        "and reports the ratio; the batched phases run with limits on (%(default)s)",
    )
    add(
        "--redis-url",
        default=None,
        help="HERALD_REDIS_URL for the servers (the queue and the shared rate-limit counts, as "
        "in production); without it each server process counts in its own memory",
    )
    add(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: a minimal HTTP/1.1 keep-alive client on asyncio (uvloop when "
        "installed), cheap enough not to starve the server, or httpx.AsyncClient (%(default)s)",
    )
    args = parser.parse_args(argv)
    if args.events < 1 or args.single < 0 or args.batch_size < 1:
        parser.error("--events and --batch-size must be positive, --single not negative")
    if not 1 <= args.batch_size <= 1000:
        parser.error("--batch-size must be 1..1000 (the API's limit)")
    resend = min(10_000, args.events) if args.resend is None else min(args.resend, args.events)
    workers = args.workers or (2 if args.database == "postgresql" else 1)
    return Options(
        events=args.events,
        single=args.single,
        resend=max(0, resend),
        batch_size=args.batch_size,
        batch_concurrency=max(1, args.batch_concurrency),
        single_concurrency=max(1, args.single_concurrency),
        database=args.database,
        postgres_url=args.postgres_url,
        workers=max(1, workers),
        seed=args.seed,
        log_level=args.log_level,
        time_limit=args.time_limit,
        keep=args.keep,
        py_spy=args.py_spy,
        skip_reference=args.skip_reference,
        client=args.client,
        limits=args.limits,
        redis_url=args.redis_url,
    )


# --- Databases ----------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What a bulk load wrote, and how long it took."""

    seconds: float
    profiles: int
    events: int
    keys: int
    note: str


@dataclass
class StoredEvent:
    name: str
    value: float | None
    properties: dict[str, Any]
    time: datetime


class Target:
    """A scratch database: its URL for Herald, counts for the checks and the reference load."""

    kind = ""
    herald_url = ""

    def create(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def checkpoint(self) -> None:
        """Flush dirty pages, so that one phase's writes are not paid for by the next."""

    def backends(self) -> dict[int, str]:
        """The database's server processes (pid: backend type), autovacuum workers included."""
        return {}

    def activity(self) -> list[str]:
        """What each of the server's database sessions is doing right now."""
        return []

    def close(self) -> None:
        pass

    def counts(self) -> dict[str, int]:
        raise NotImplementedError

    def stored_events(self, unique_ids: list[str]) -> dict[str, StoredEvent]:
        raise NotImplementedError

    def reference_load(
        self, stream: EventStream, stop: int, org_id: uuid.UUID, progress: Progress
    ) -> Loaded:
        raise NotImplementedError


COUNT_QUERIES: dict[str, LiteralString] = {
    "events": "SELECT count(*) FROM events",
    "event_keys": "SELECT count(*) FROM event_keys",
    "profiles": "SELECT count(*) FROM profiles WHERE merged_into_id IS NULL",
    "metrics_event_count": "SELECT coalesce(sum(event_count), 0) FROM metrics",
    "metrics": "SELECT count(*) FROM metrics",
    "profile_changes": "SELECT count(*) FROM profile_changes",
}


def _reference_rows(
    stream: EventStream, stop: int, org_id: uuid.UUID
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """(profiles, events, event keys) rows for events 0..stop-1, REFERENCE_CHUNK at a time, with
    Python values; each profile appears in the chunk where it is first seen."""
    profile_ids: dict[str, uuid.UUID] = {}
    now = datetime.now(UTC)
    for start in range(0, stop, REFERENCE_CHUNK):
        profiles: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        keys: list[tuple[Any, ...]] = []
        for item in stream.events(start, min(stop, start + REFERENCE_CHUNK)):
            email = item["profile"]["email"]
            profile_id = profile_ids.get(email)
            if profile_id is None:
                profile_id = profile_ids[email] = new_id()
                profiles.append((profile_id, org_id, email, "{}", now, now))
            event_id = new_id()
            unique_id = item["unique_id"]
            events.append(
                (
                    event_id,
                    datetime.fromisoformat(item["time"]),
                    org_id,
                    profile_id,
                    item["event"],
                    json.dumps(item["properties"], separators=(",", ":")),
                    item.get("value"),
                    unique_id,
                    "api",
                    now,
                )
            )
            keys.append((org_id, unique_id, event_id, profile_id, now))
        yield profiles, events, keys


PROFILE_COLUMNS = ("id", "org_id", "email", "properties", "created_at", "updated_at")
KEY_COLUMNS = ("org_id", "unique_id", "event_id", "profile_id", "created_at")


class Postgres(Target):
    kind = "postgresql"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"herald_bench_{secrets.token_hex(4)}"
        base, _, _ = admin_url.rpartition("/")
        self.url = f"{base}/{self.name}"
        self.herald_url = self.url
        self.created = False
        self._watcher: psycopg.Connection[tuple[Any, ...]] | None = None

    def _admin(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def create(self) -> None:
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.created = True

    def drop(self) -> None:
        if not self.created:
            return
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
        self.created = False

    def describe(self) -> str:
        with self._admin() as connection:
            row = connection.execute(
                "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
                "current_setting('synchronous_commit'), current_setting('max_wal_size')"
            ).fetchone()
        assert row is not None
        return (
            f"PostgreSQL {row[0]} (shared_buffers {row[1]}, synchronous_commit {row[2]}, "
            f"max_wal_size {row[3]}), database {self.name}"
        )

    def checkpoint(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute("CHECKPOINT")
        except psycopg.Error:
            pass  # needs superuser or pg_checkpoint; without it the phases just share the cost

    def backends(self) -> dict[int, str]:
        if self._watcher is None or self._watcher.closed:
            self._watcher = psycopg.connect(self.admin_url, autocommit=True)
        rows = self._watcher.execute(
            "SELECT pid, backend_type FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.name,),
        ).fetchall()
        return {int(pid): str(kind) for pid, kind in rows}

    def activity(self) -> list[str]:
        if self._watcher is None or self._watcher.closed:
            self._watcher = psycopg.connect(self.admin_url, autocommit=True)
        rows = self._watcher.execute(
            "SELECT state, wait_event_type, wait_event, "
            "array_to_string((regexp_split_to_array(trim(query), '\\s+'))[1:3], ' ') "
            "FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            (self.name,),
        ).fetchall()
        # A running statement is labelled with its first three words.
        return [
            f"{state or '?'}"
            + (f" / {kind}:{event}" if kind else " / on CPU")
            + (f" ({statement})" if state == "active" else "")
            for state, kind, event, statement in rows
            if state != "idle"
        ]

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def counts(self) -> dict[str, int]:
        with psycopg.connect(self.url) as connection:
            return {
                name: int(connection.execute(query).fetchone()[0])  # type: ignore[index]
                for name, query in COUNT_QUERIES.items()
            }

    def stored_events(self, unique_ids: list[str]) -> dict[str, StoredEvent]:
        with psycopg.connect(self.url) as connection:
            rows = connection.execute(
                "SELECT unique_id, name, value, properties, time FROM events "
                "WHERE unique_id = ANY(%s)",
                (unique_ids,),
            ).fetchall()
        return {
            row[0]: StoredEvent(
                row[1], None if row[2] is None else float(row[2]), row[3], row[4].astimezone(UTC)
            )
            for row in rows
        }

    def _create_reference_tables(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        execute = connection.execute
        execute("CREATE TABLE bench_profiles (LIKE profiles INCLUDING ALL)")
        execute("CREATE TABLE bench_events (LIKE events INCLUDING ALL) PARTITION BY RANGE (time)")
        partitions = execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
        ).fetchall()
        for name, bound in partitions:
            execute(
                sql.SQL("CREATE TABLE {} PARTITION OF bench_events {}").format(
                    sql.Identifier(f"bench_{name}"), sql.SQL(cast(LiteralString, bound))
                )
            )
        execute("CREATE TABLE bench_event_keys (LIKE event_keys INCLUDING ALL)")
        # LIKE copies no foreign keys: each copy gets its original's, pointing at the copies.
        for table in ("profiles", "events", "event_keys"):
            keys = execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' AND conparentid = 0",
                (table,),
            ).fetchall()
            for (definition,) in keys:
                definition = definition.replace(
                    "REFERENCES profiles(", "REFERENCES bench_profiles(", 1
                )
                execute(
                    sql.SQL("ALTER TABLE {} ADD {}").format(
                        sql.Identifier(f"bench_{table}"),
                        sql.SQL(cast(LiteralString, definition)),
                    )
                )

    def reference_load(
        self, stream: EventStream, stop: int, org_id: uuid.UUID, progress: Progress
    ) -> Loaded:
        with psycopg.connect(self.url, autocommit=True) as connection:
            self._create_reference_tables(connection)
        self.checkpoint()
        task = progress.add_task("reference: COPY", total=stop)
        counts = [0, 0, 0]
        copies = (
            ("bench_profiles", PROFILE_COLUMNS),
            ("bench_events", EVENT_COLUMNS),
            ("bench_event_keys", KEY_COLUMNS),
        )
        seconds = 0.0
        with psycopg.connect(self.url) as connection:
            with connection.transaction(), connection.cursor() as cursor:
                for rows in _reference_rows(stream, stop, org_id):
                    # Made and written as COPY text before the clock runs: only the load counts.
                    texts = ["".join(map(_copy_line, table_rows)) for table_rows in rows]
                    started = time.perf_counter()
                    for position, ((table, columns), text) in enumerate(
                        zip(copies, texts, strict=True)
                    ):
                        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                        )
                        with cursor.copy(statement) as copy:
                            copy.write(text)
                        counts[position] += len(rows[position])
                    seconds += time.perf_counter() - started
                    progress.update(task, advance=len(rows[1]))
                started = time.perf_counter()
            seconds += time.perf_counter() - started  # the commit
        return Loaded(
            seconds,
            profiles=counts[0],
            events=counts[1],
            keys=counts[2],
            note="COPY (text) into bench_profiles, bench_events (partitioned like events) and "
            "bench_event_keys in one transaction; same columns, primary keys, indexes, unique and "
            "foreign keys as Herald's tables; the rows are made and formatted before the clock "
            "runs, chunk by chunk",
        )

    def drop_reference_tables(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(
                "DROP TABLE IF EXISTS bench_event_keys, bench_events, bench_profiles"
            )


class Sqlite(Target):
    kind = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "herald.db"
        self.herald_url = f"sqlite:///{self.path}"

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def describe(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}, {self.path}"

    def _connect(self) -> sqlite3.Connection:
        # As Herald configures its connections (herald/db.py).
        connection = sqlite3.connect(self.path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "synchronous=NORMAL",
        ):
            connection.execute(f"PRAGMA {pragma}")
        return connection

    def checkpoint(self) -> None:
        connection = self._connect()
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

    def counts(self) -> dict[str, int]:
        connection = self._connect()
        try:
            return {
                name: int(connection.execute(query).fetchone()[0])
                for name, query in COUNT_QUERIES.items()
            }
        finally:
            connection.close()

    def stored_events(self, unique_ids: list[str]) -> dict[str, StoredEvent]:
        connection = self._connect()
        try:
            marks = ", ".join("?" for _ in unique_ids)
            rows = connection.execute(
                f"SELECT unique_id, name, value, properties, time FROM events "
                f"WHERE unique_id IN ({marks})",
                unique_ids,
            ).fetchall()
        finally:
            connection.close()
        return {
            row[0]: StoredEvent(
                row[1],
                None if row[2] is None else float(row[2]),
                json.loads(row[3]),
                datetime.fromisoformat(row[4]).replace(tzinfo=UTC),
            )
            for row in rows
        }

    def _create_reference_tables(self, connection: sqlite3.Connection) -> None:
        """bench_* copies of the tables and their indexes, from Herald's own DDL."""
        order = {"profiles": 0, "events": 1, "event_keys": 2}
        rows = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE tbl_name IN ('profiles', 'events', 'event_keys') AND sql IS NOT NULL"
        ).fetchall()
        rows.sort(key=lambda row: (row[0] != "table", order[row[2]]))
        table_name = re.compile(r"""(?<![\w])(["`]?)(profiles|events|event_keys)\1(?![\w])""")
        for kind, name, _table, ddl in rows:
            statement = table_name.sub(lambda m: f"{m[1]}bench_{m[2]}{m[1]}", ddl)
            if kind == "index":
                statement = statement.replace(name, f"bench_{name}", 1)
            connection.execute(statement)

    def reference_load(
        self, stream: EventStream, stop: int, org_id: uuid.UUID, progress: Progress
    ) -> Loaded:
        connection = self._connect()
        try:
            self._create_reference_tables(connection)
            task = progress.add_task("reference: executemany", total=stop)
            counts = [0, 0, 0]
            statements = [
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
                for table, columns in (
                    ("bench_profiles", PROFILE_COLUMNS),
                    ("bench_events", EVENT_COLUMNS),
                    ("bench_event_keys", KEY_COLUMNS),
                )
            ]
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            seconds = time.perf_counter() - started
            for rows in _reference_rows(stream, stop, org_id):
                # Made before the clock runs: only the load counts.
                values = [[_sqlite_row(row) for row in table_rows] for table_rows in rows]
                started = time.perf_counter()
                for position, (statement, table_rows) in enumerate(
                    zip(statements, values, strict=True)
                ):
                    connection.executemany(statement, table_rows)
                    counts[position] += len(table_rows)
                seconds += time.perf_counter() - started
                progress.update(task, advance=len(rows[1]))
            started = time.perf_counter()
            connection.execute("COMMIT")
            seconds += time.perf_counter() - started
        finally:
            connection.close()
        return Loaded(
            seconds,
            profiles=counts[0],
            events=counts[1],
            keys=counts[2],
            note="executemany into bench_profiles, bench_events and bench_event_keys (same DDL, "
            "indexes and foreign keys as Herald's tables, pragmas as herald/db.py) in one "
            "transaction; the rows are made before the clock runs, chunk by chunk",
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _copy_line(row: tuple[Any, ...]) -> str:
    return "\t".join(map(_copy_value, row)) + "\n"


def _sqlite_value(value: Any) -> Any:
    # The storage formats SQLAlchemy uses on SQLite: 32-digit hex UUIDs, naive UTC timestamps.
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    return value


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_sqlite_value(value) for value in row)


# --- Herald processes ---------------------------------------------------------------------------


def herald_env(
    target: Target, data_dir: Path, log_level: str, redis_url: str | None
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    env.update(
        HERALD_ENV="production",
        HERALD_DATABASE_URL=target.herald_url,
        HERALD_DATA_DIR=str(data_dir),
        HERALD_SECRET_KEY=secrets.token_urlsafe(48),
        HERALD_LOG_LEVEL=log_level,
        HERALD_BASE_URL="http://127.0.0.1",
        NO_PROXY="*",
    )
    if redis_url:
        env["HERALD_REDIS_URL"] = redis_url
    return env


def herald_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "herald", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"herald {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    command: list[str]
    base_url: str
    log: Path

    def stop(self) -> None:
        """SIGTERM to the server's process group (it was started in its own session), then
        SIGKILL if it has not gone after 20 seconds."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(env: dict[str, str], workers: int, tmp: Path, name: str = "server") -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "herald",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    log = tmp / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, command, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 90
    ready = 0
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=5) as client:
        while ready < 2 * workers:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready:\n{server.log_tail()}")
            try:
                if client.get("/readyz").status_code == 200:
                    ready += 1
                    continue
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    # /readyz may have been answered by the first worker up; wait for all of them.
    while len(procstat.process_tree(process.pid)) < workers + (1 if workers > 1 else 0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every worker started:\n{server.log_tail()}")
        time.sleep(0.2)
    time.sleep(2.0 if workers > 1 else 0.5)
    return server


# --- Measuring ----------------------------------------------------------------------------------


@dataclass
class Usage:
    wall: float = 0.0
    client: float = 0.0
    server: float = 0.0
    machine_busy: float = 0.0
    machine_total: float = 0.0


class CpuMeter:
    """CPU seconds used between `start()` and `stop()` by this process, the server's processes
    and the whole machine (the database's processes are followed by `Bench._watch_database`)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def _snapshot(self) -> tuple[float, float, dict[int, float], float, float]:
        server = procstat.cpu_of(procstat.process_tree(self.server_pid))
        busy, total = procstat.machine_cpu()
        return time.perf_counter(), time.process_time(), server, busy, total

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> Usage:
        end = self._snapshot()
        start = self._start

        def delta(before: dict[int, float], after: dict[int, float]) -> float:
            return sum(value - before.get(pid, 0.0) for pid, value in after.items())

        return Usage(
            wall=end[0] - start[0],
            client=end[1] - start[1],
            server=delta(start[2], end[2]),
            machine_busy=end[3] - start[3],
            machine_total=end[4] - start[4],
        )


@dataclass
class Phase:
    name: str
    unit: str
    planned: int
    sent: int = 0
    requests: int = 0
    seconds: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    item_errors: int = 0
    failures: list[str] = field(default_factory=list)
    retries: int = 0
    server_errors: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    stopped_early: bool = False
    usage: Usage = field(default_factory=Usage)
    profile: pyspy.Summary | None = None
    began: float = 0.0
    # The index in the event stream of the phase's first event (single phases).
    first: int = 0
    # (seconds since the phase began, items sent so far) after each answer.
    marks: list[tuple[float, int]] = field(default_factory=list)
    # The spooled bodies answered with success.
    delivered: list[int] = field(default_factory=list)
    # Samples of what the server's database sessions were doing (PostgreSQL only).
    activity: Counter[str] = field(default_factory=Counter)
    activity_samples: int = 0
    # PostgreSQL processes of the scratch database: pid -> [CPU at first sight, CPU last seen,
    # backend type]. Followed every 0.2 s, so that short-lived autovacuum workers count too.
    backend_cpu: dict[int, tuple[float, float, str]] = field(default_factory=dict)

    def database_cpu(self, autovacuum: bool) -> float:
        return sum(
            last - first
            for first, last, kind in self.backend_cpu.values()
            if kind.startswith("autovacuum") == autovacuum
        )

    def rate_by_tenth(self) -> list[float]:
        """Items a second over each tenth of the items sent, first to last."""
        if len(self.marks) < 10:
            return []
        rates, previous_time, previous_count, mark = [], 0.0, 0, 0
        for tenth in range(1, 11):
            goal = self.sent * tenth // 10
            while self.marks[mark][1] < goal:
                mark += 1
            at, count = self.marks[mark]
            if at > previous_time:
                rates.append((count - previous_count) / (at - previous_time))
                previous_time, previous_count = at, count
        return rates

    @property
    def rate(self) -> float:
        count = self.requests if self.unit == "requests" else self.sent
        return count / self.seconds if self.seconds else 0.0

    def latency(self, quantile: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>9,.0f}/s" if speed else "        …/s", style="cyan")


def new_progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class Spool:
    """Request bodies, generated and encoded before a phase into a file and read back while it
    runs: the phase's time and the client's CPU are sending and answering, not making events.
    A file, not a list, so that a million events do not sit in the client's memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "w+b")  # noqa: SIM115 (closed by close())
        self._spans: list[tuple[int, int]] = []
        self._size = 0

    def add(self, body: bytes) -> None:
        self._file.write(body)
        self._spans.append((self._size, len(body)))
        self._size += len(body)

    def __len__(self) -> int:
        return len(self._spans)

    def finish(self) -> None:
        self._file.flush()

    def body(self, number: int) -> bytes:
        offset, length = self._spans[number]
        return os.pread(self._file.fileno(), length, offset)

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class Bench:
    def __init__(self, options: Options, target: Target, tmp: Path) -> None:
        self.options = options
        self.target = target
        self.tmp = tmp
        self.deadline = time.monotonic() + options.time_limit
        self.stream = EventStream(options.events + options.single, seed=options.seed)
        self.emails: set[str] = set()
        self.server: Server | None = None
        # With --limits compare: the server without rate limits, for half the single phase.
        self.unlimited: Server | None = None
        self.sampler: procstat.MemorySampler | None = None
        self.recorder: pyspy.Recorder | None = None
        self.public_key = ""
        self.org_id = uuid.UUID(int=0)

    # The HTTP phases -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connections(
        self, count: int, *, keep_alive: bool = True, requests_per_connection: int | None = None
    ) -> AsyncIterator[list[loadclient.Connection]]:
        """One connection for each concurrent sender. Without keep-alive, each request opens its
        own TCP connection: uvicorn's worker processes share one listening socket, so a few
        long-lived connections can all land on the same worker and leave the others idle. With
        `requests_per_connection`, a kept-alive connection is closed after that many requests
        and opened again, which spreads the connections over the workers as the run goes."""
        assert self.server is not None
        headers = {"Authorization": f"Bearer {self.public_key}"}
        if self.options.client == "httpx":
            async with loadclient.httpx_client(self.server.base_url, headers, count) as client:
                yield [loadclient.HttpxConnection(client) for _ in range(count)]
            return
        host, port = self.server.base_url.removeprefix("http://").split(":")
        connections = [
            loadclient.RawConnection(
                host,
                int(port),
                headers,
                timeout=180,
                keep_alive=keep_alive,
                requests_per_connection=requests_per_connection,
            )
            for _ in range(count)
        ]
        try:
            yield list(connections)
        finally:
            for connection in connections:
                await connection.close()

    async def _post(
        self, connection: loadclient.Connection, path: str, body: bytes, phase: Phase
    ) -> loadclient.Reply | None:
        """POST like a well-behaved SDK: retry a dropped connection or a 5xx answer (safe, as
        every event carries a unique_id) up to RETRIES times, counting each retry."""
        response: loadclient.Reply | None = None
        for attempt in range(RETRIES + 1):
            try:
                response = await connection.post(path, body)
            except loadclient.TransportError as exc:
                if attempt == RETRIES:
                    phase.failures.append(f"{path}: {exc}")
                    return None
            else:
                if response.status_code < 500 or attempt == RETRIES:
                    return response
                phase.server_errors[response.status_code] += 1
            phase.retries += 1
            await asyncio.sleep(0.2 * (attempt + 1))
        return response

    def spool_batches(self, name: str, start: int, stop: int) -> tuple[Spool, list[int]]:
        """The bodies of a batched phase, and how many events each holds."""
        spool = Spool(self.tmp / f"{name}.bodies")
        sizes = []
        size = self.options.batch_size
        for first in range(start, stop, size):
            events = list(self.stream.events(first, min(stop, first + size)))
            spool.add(json.dumps({"events": events}, separators=(",", ":")).encode())
            sizes.append(len(events))
        spool.finish()
        return spool, sizes

    def spool_singles(self, name: str, start: int, stop: int) -> Spool:
        spool = Spool(self.tmp / f"{name}.bodies")
        for index in range(start, stop):
            spool.add(json.dumps(self.stream.event(index), separators=(",", ":")).encode())
        spool.finish()
        return spool

    async def batched(
        self, phase: Phase, spool: Spool, sizes: list[int], progress: Progress
    ) -> None:
        task = progress.add_task(f"{phase.name}: /api/track/batch", total=sum(sizes))
        numbers = iter(range(len(spool)))

        async def worker(client: loadclient.Connection) -> None:
            for number in numbers:
                if time.monotonic() > self.deadline or len(phase.failures) > 10:
                    phase.stopped_early = True
                    return
                body = spool.body(number)
                began = time.perf_counter()
                response = await self._post(client, "/api/track/batch", body, phase)
                phase.latencies.append(time.perf_counter() - began)
                phase.requests += 1
                if response is None:
                    continue
                if response.status_code != 200:
                    phase.failures.append(f"HTTP {response.status_code}: {response.text[:300]}")
                    continue
                result = response.json()
                phase.sent += sizes[number]
                phase.delivered.append(number)
                phase.marks.append((time.perf_counter() - phase.began, phase.sent))
                phase.accepted += result["accepted"]
                phase.duplicates += result["duplicates"]
                phase.item_errors += len(result["errors"])
                if result["errors"] and len(phase.failures) < 10:
                    phase.failures.append(f"item errors: {result['errors'][:3]}")
                progress.update(task, advance=sizes[number])
                self._progress(phase, len(sizes))

        # A new connection per batch (cheap next to a 1,000-event request) spreads the batches
        # over the server's worker processes.
        async with self._connections(
            self.options.batch_concurrency, keep_alive=False
        ) as connections:
            began = phase.began = time.perf_counter()
            await asyncio.gather(*(worker(connection) for connection in connections))
            phase.seconds = time.perf_counter() - began

    async def single(self, phase: Phase, spool: Spool, progress: Progress) -> None:
        task = progress.add_task(f"{phase.name}: /api/track", total=len(spool))
        numbers = iter(range(len(spool)))
        advance = 0

        async def worker(client: loadclient.Connection) -> None:
            nonlocal advance
            for number in numbers:
                if time.monotonic() > self.deadline or len(phase.failures) > 10:
                    phase.stopped_early = True
                    return
                body = spool.body(number)
                began = time.perf_counter()
                response = await self._post(client, "/api/track", body, phase)
                phase.latencies.append(time.perf_counter() - began)
                phase.requests += 1
                if response is None:
                    continue
                if response.status_code != 202:
                    phase.failures.append(f"HTTP {response.status_code}: {response.text[:300]}")
                    continue
                phase.sent += 1
                phase.delivered.append(number)
                phase.marks.append((time.perf_counter() - phase.began, phase.sent))
                if response.json()["duplicate"]:
                    phase.duplicates += 1
                else:
                    phase.accepted += 1
                advance += 1
                if advance >= 50:
                    progress.update(task, advance=advance)
                    advance = 0
                    self._progress(phase, len(spool))

        # Kept alive, but recycled: 24 connections held for the whole phase were dealt out by
        # the kernel as they came, once 22 to one server process and 2 to the other (groups of
        # 17 events in the first, of 1 in the second, which sat mostly idle).
        async with self._connections(
            self.options.single_concurrency, requests_per_connection=SINGLE_REQUESTS_PER_CONNECTION
        ) as connections:
            began = phase.began = time.perf_counter()
            await asyncio.gather(*(worker(connection) for connection in connections))
            phase.seconds = time.perf_counter() - began
        progress.update(task, advance=advance)

    def _watch_database(self, phase: Phase, done: threading.Event) -> None:
        """Sample pg_stat_activity: lock waits and sessions idle in a transaction show where
        requests queue up."""
        first = True
        while True:
            try:
                states = self.target.activity()
                backends = self.target.backends()
            except psycopg.Error:
                return
            for pid, kind in backends.items():
                seconds = procstat.cpu_seconds(pid)
                if seconds is None:
                    continue
                # A process first seen after the phase began started during it.
                since = phase.backend_cpu.get(pid, (seconds if first else 0.0, 0.0, kind))[0]
                phase.backend_cpu[pid] = (since, seconds, kind)
            if not first:
                phase.activity.update(states)
                phase.activity_samples += 1
            first = False
            if done.wait(0.2):
                return

    def note_emails(self, phase: Phase, spool: Spool) -> None:
        """The people of the events a phase delivered, read back from its bodies after it."""
        for number in phase.delivered:
            body = json.loads(spool.body(number))
            for event in body.get("events", [body]):
                self.emails.add(event["profile"]["email"])

    def _progress(self, phase: Phase, total: int) -> None:
        if self.sampler is not None:
            self.sampler.fraction = phase.sent / total if total else 1.0

    def run_phase(self, phase: Phase, run: Callable[[], Any]) -> Phase:
        """Run one HTTP phase with CPU accounting, memory labels and (optionally) py-spy."""
        assert self.server is not None and self.sampler is not None
        self.target.checkpoint()
        self.sampler.phase, self.sampler.fraction = phase.name, 0.0
        self.sampler.sample()
        if self.options.py_spy is not None:
            executable = pyspy.py_spy_path()
            if executable is None:
                raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
            self.options.py_spy.mkdir(parents=True, exist_ok=True)
            self.recorder = pyspy.Recorder(
                executable, self.server.process.pid, self.options.py_spy / f"{phase.name}.txt"
            )
            time.sleep(1)  # let py-spy attach before the load starts
        meter = CpuMeter(self.server.process.pid)
        meter.start()
        watching = threading.Event()
        watcher = threading.Thread(target=self._watch_database, args=(phase, watching), daemon=True)
        watcher.start()
        try:
            if uvloop is not None:
                uvloop.run(run())
            else:
                asyncio.run(run())
        finally:
            watching.set()
            watcher.join(timeout=5)
            phase.usage = meter.stop()
            self.sampler.fraction = 1.0
            self.sampler.sample()
            if self.recorder is not None:
                self.recorder.stop()
                self.recorder = None
                output = self.options.py_spy / f"{phase.name}.txt"  # type: ignore[operator]
                if output.exists():
                    phase.profile = pyspy.summarize(output)
        return phase

    # The whole run -------------------------------------------------------------------------

    def setup(self) -> None:
        console.print(f"[bold]Database[/bold]  {self.target.describe()}")
        env = herald_env(
            self.target, self.tmp / "data", self.options.log_level, self.options.redis_url
        )
        started = time.perf_counter()
        herald_cli(["migrate"], env)
        console.print(f"[bold]Migrated[/bold]  in {time.perf_counter() - started:.1f} s")
        password = secrets.token_urlsafe(16)
        output = herald_cli(
            [
                "org",
                "create",
                "Bench Shop",
                "--admin-email",
                "owner@bench.example.com",
                "--admin-password",
                password,
                "--json",
            ],
            env,
        )
        created = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
        self.public_key = created["public_key"]
        self.org_id = uuid.UUID(created["org_id"])
        limited = self.options.limits != "off"
        self.server = start_server(
            {**env, "HERALD_RATE_LIMITS": str(limited).lower()}, self.options.workers, self.tmp
        )
        if self.options.limits == "compare":
            self.unlimited = start_server(
                {**env, "HERALD_RATE_LIMITS": "false"},
                self.options.workers,
                self.tmp,
                name="server-unlimited",
            )
            console.print(f"[bold]Unlimited[/bold] {self.unlimited.base_url} (for the comparison)")
        console.print(f"[bold]Server[/bold]    {' '.join(self.server.command[1:])}")
        console.print(
            f"          pids {procstat.process_tree(self.server.process.pid)}, "
            f"log {self.server.log}"
        )
        self.sampler = procstat.MemorySampler(self.server.process.pid)
        self.sampler.phase = "idle"
        self.sampler.sample()
        self.sampler.start()

    def run(self) -> int:
        options = self.options
        phases: list[Phase] = []
        generator_rate = self.generator_rate()
        self.setup()
        main_server = self.server
        # Every phase's bodies are made before any phase runs (see Spool).
        batch_spool, batch_sizes = self.spool_batches("batched", 0, options.events)
        resend_spool, resend_sizes = self.spool_batches("dedupe", 0, options.resend)
        singles = self.single_parts()
        single_spools = [
            self.spool_singles(phase.name, phase.first, phase.first + phase.planned)
            for phase, _server in singles
        ]
        with new_progress() as progress:
            batched = Phase("batched", "events", options.events)
            phases.append(
                self.run_phase(
                    batched,
                    lambda: self.batched(batched, batch_spool, batch_sizes, progress),
                )
            )
            self.note_emails(batched, batch_spool)
            if options.resend:
                dedupe = Phase("dedupe", "events", options.resend)
                phases.append(
                    self.run_phase(
                        dedupe,
                        lambda: self.batched(dedupe, resend_spool, resend_sizes, progress),
                    )
                )
            for (single, server), spool in zip(singles, single_spools, strict=True):
                self.server = server or main_server
                phases.append(
                    self.run_phase(single, functools.partial(self.single, single, spool, progress))
                )
                self.note_emails(single, spool)
            self.server = main_server
        for spool in (batch_spool, resend_spool, *single_spools):
            spool.close()
        if self.unlimited is not None:
            self.unlimited.stop()
        assert self.sampler is not None and self.server is not None
        self.sampler.phase = "after"
        time.sleep(1.5)
        self.sampler.stop()
        self.sampler.sample()
        checks_ok = self.verify(phases)
        self.server.stop()
        reference: Loaded | None = None
        if not options.skip_reference:
            with new_progress() as progress:
                reference = self.target.reference_load(
                    self.stream, options.events + options.single, self.org_id, progress
                )
        self.report(phases, reference, generator_rate)
        return 0 if checks_ok and not any(p.failures or p.stopped_early for p in phases) else 1

    def single_parts(self) -> list[tuple[Phase, Server | None]]:
        """The single phase, or with --limits compare its four quarters: off, on, off, on
        (alternated so that the database's growth weighs on both alike)."""
        options = self.options
        if not options.single:
            return []
        if options.limits != "compare":
            return [(Phase("single", "requests", options.single, first=options.events), None)]
        parts: list[tuple[Phase, Server | None]] = []
        first = options.events
        for number in range(4):
            size = options.single // 4 + (1 if number < options.single % 4 else 0)
            on = number % 2 == 1
            name = f"single {'on' if on else 'off'} {number // 2 + 1}"
            parts.append(
                (Phase(name, "requests", size, first=first), None if on else self.unlimited)
            )
            first += size
        return parts

    def generator_rate(self) -> float:
        """How fast this process makes events (and encodes them), before the phases."""
        sample = EventStream(self.stream.total, seed=self.options.seed + 1)
        count = min(20_000, self.stream.total)
        started = time.perf_counter()
        for first in range(0, count, CHUNK):
            events = list(sample.events(first, min(count, first + CHUNK)))
            json.dumps({"events": events}, separators=(",", ":"))
        return count / (time.perf_counter() - started)

    # Checks and report ---------------------------------------------------------------------

    def verify(self, phases: list[Phase]) -> bool:
        counts = self.target.counts()
        by_name = {p.name: p for p in phases}
        accepted = sum(p.accepted for p in phases)
        delivered = by_name["batched"].sent + sum(p.sent for p in phases if _is_single(p))
        lost = sum(len(p.failures) for p in phases)
        checks: list[tuple[str, bool, str]] = [
            (
                "every request answered",
                lost == 0 and not any(p.item_errors for p in phases),
                f"{lost} requests failed after {RETRIES} retries, "
                f"{sum(p.item_errors for p in phases)} events refused",
            ),
            (
                "each event accepted once",
                accepted == delivered,
                f"accepted {accepted:,} new events, {delivered:,} delivered in batched + single",
            ),
            (
                "events stored = events accepted",
                counts["events"] == accepted,
                f"{counts['events']:,} stored, {accepted:,} accepted",
            ),
            (
                "one event key a stored event",
                counts["event_keys"] == counts["events"],
                f"{counts['event_keys']:,} keys",
            ),
            (
                "one profile a distinct email",
                counts["profiles"] == len(self.emails),
                f"{counts['profiles']:,} profiles, {len(self.emails):,} emails",
            ),
            (
                "catalog counts add up",
                counts["metrics_event_count"] == counts["events"],
                f"{counts['metrics']} metrics counting {counts['metrics_event_count']:,} events",
            ),
        ]
        if "dedupe" in by_name:
            dedupe = by_name["dedupe"]
            checks.append(
                (
                    "a resent event is a duplicate",
                    dedupe.duplicates == dedupe.sent and dedupe.accepted == 0,
                    f"{dedupe.duplicates:,} duplicates of {dedupe.sent:,} resent",
                )
            )
        checks.append(self._spot_check(by_name))
        table = Table(title="Correctness", title_justify="left")
        for column in ("check", "ok", "detail"):
            table.add_column(column)
        for name, ok, detail in checks:
            table.add_row(name, "[green]yes[/green]" if ok else "[red]NO[/red]", detail)
        table.add_row("profile change records", "", f"{counts['profile_changes']:,}")
        console.print(table)
        return all(ok for _, ok, _ in checks)

    def _spot_check(self, phases: dict[str, Phase]) -> tuple[str, bool, str]:
        """200 random events read back and compared field by field with what was sent."""
        sent = list(range(phases["batched"].sent))
        for phase in phases.values():
            if _is_single(phase):
                sent.extend(phase.first + number for number in phase.delivered)
        indexes = random.Random(self.options.seed).sample(sent, min(200, len(sent)))
        expected = {self.stream.unique_id(i): self.stream.event(i) for i in indexes}
        stored = self.target.stored_events(list(expected))
        wrong = []
        for unique_id, event in expected.items():
            row = stored.get(unique_id)
            if (
                row is None
                or row.name != event["event"]
                or row.properties != event["properties"]
                or row.time != datetime.fromisoformat(event["time"])
                or (row.value is None) != ("value" not in event)
                or (row.value is not None and abs(row.value - event["value"]) > 1e-6)
            ):
                wrong.append(unique_id)
        return (
            "events read back as sent",
            not wrong,
            f"{len(expected) - len(wrong)} of {len(expected)} sampled events match"
            + (f"; first wrong: {wrong[0]}" if wrong else ""),
        )

    def report(self, phases: list[Phase], reference: Loaded | None, generator_rate: float) -> None:
        options = self.options
        table = Table(title="Throughput", title_justify="left")
        for column in (
            "phase",
            "sent",
            "seconds",
            "rate",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "server CPU s",
            "postgres CPU s",
            "autovacuum CPU s",
            "client CPU s",
            "machine busy",
            "retried (5xx)",
        ):
            table.add_column(column, justify="right" if column != "phase" else "left")
        postgres = self.target.kind == "postgresql"
        for phase in phases:
            usage = phase.usage
            busy = usage.machine_busy / usage.machine_total if usage.machine_total else 0.0
            table.add_row(
                phase.name + (" (stopped early)" if phase.stopped_early else ""),
                f"{phase.sent:,} ev / {phase.requests:,} req",
                f"{phase.seconds:.1f}",
                f"{phase.rate:,.0f} {'req' if phase.unit == 'requests' else 'ev'}/s",
                f"{phase.latency(0.5) * 1000:.1f}",
                f"{phase.latency(0.95) * 1000:.1f}",
                f"{phase.latency(0.99) * 1000:.1f}",
                f"{usage.server:.1f}",
                f"{phase.database_cpu(autovacuum=False):.1f}" if postgres else "-",
                f"{phase.database_cpu(autovacuum=True):.1f}" if postgres else "-",
                f"{usage.client:.1f}",
                f"{busy:.0%} of {os.cpu_count()}",
                f"{phase.retries:,} ({sum(phase.server_errors.values()):,})",
            )
        if reference is not None:
            table.add_row(
                "reference",
                f"{reference.events:,} ev",
                f"{reference.seconds:.1f}",
                f"{reference.events / reference.seconds:,.0f} ev/s",
                *(["-"] * 9),
            )
        console.print(table)
        if reference is not None:
            console.print(
                f"[dim]reference: {reference.note}; {reference.profiles:,} profiles.[/dim]"
            )
            reference_rate = reference.events / reference.seconds
            for phase in phases:
                console.print(
                    f"{phase.name:>8} / reference = {phase.rate / reference_rate:6.1%}"
                    f"   ({phase.rate:,.0f} {phase.unit}/s vs {reference_rate:,.0f} events/s)"
                )
        console.print(
            f"[dim]client-side generation + JSON encoding: {generator_rate:,.0f} events/s on one "
            "core (done before the phases and outside the reference's time).[/dim]"
        )
        for phase in phases:
            for failure in phase.failures[:5]:
                console.print(f"[red]{phase.name}: {failure}[/red]")
        for phase in phases:
            tenths = phase.rate_by_tenth()
            if tenths:
                console.print(
                    f"{phase.name} {phase.unit}/s by tenth of the phase: "
                    + " ".join(f"{rate:,.0f}" for rate in tenths)
                )
        self.report_activity(phases)
        self.report_server_errors()
        self.report_memory(phases)
        for phase in phases:
            if phase.profile is not None:
                self.report_profile(phase)
        targets = {"batched": 20_000.0, "single": 2_000.0}
        for phase in phases:
            goal = targets.get(phase.name)
            if goal is not None:
                met = "[green]met[/green]" if phase.rate >= goal else "[red]missed[/red]"
                console.print(
                    f"target {phase.name}: ≥ {goal:,.0f} {phase.unit}/s → {phase.rate:,.0f} {met}"
                )
        self.report_limits(phases)
        load = os.getloadavg()
        console.print(
            f"[dim]{options.workers} server process(es), batch {options.batch_size} x "
            f"{options.batch_concurrency} in flight, single x {options.single_concurrency} in "
            f"flight, {options.client} client, log level {options.log_level}; load average now "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}[/dim]"
        )

    def report_limits(self, phases: list[Phase]) -> None:
        """With --limits compare: single requests/s and server CPU a request, limits on / off."""
        halves = {
            on: [p for p in phases if _is_single(p) and (" on " in p.name) == on]
            for on in (True, False)
        }
        if not halves[True] or not halves[False]:
            return

        def rate(group: list[Phase]) -> float:
            return sum(p.sent for p in group) / max(1e-9, sum(p.seconds for p in group))

        def cpu_ms(group: list[Phase]) -> float:
            requests = max(1, sum(p.requests for p in group))
            return 1000 * sum(p.usage.server for p in group) / requests

        on, off = rate(halves[True]), rate(halves[False])
        ratio = on / off if off else 0.0
        met = "[green]met[/green]" if ratio >= 0.95 else "[red]missed[/red]"
        console.print(
            f"[bold]rate limits[/bold]: single events {on:,.0f} req/s with limits on, "
            f"{off:,.0f} off: on / off = {ratio:.1%} (target ≥ 95%: {met}); server CPU "
            f"{cpu_ms(halves[True]):.3f} ms a request on, {cpu_ms(halves[False]):.3f} ms off"
        )

    def report_activity(self, phases: list[Phase]) -> None:
        for phase in phases:
            if not phase.activity:
                continue
            average = {
                state: count / phase.activity_samples
                for state, count in phase.activity.most_common(8)
            }
            console.print(
                f"{phase.name}: busy database sessions on average (pg_stat_activity, "
                f"{phase.activity_samples} samples): "
                + "; ".join(f"{state} {mean:.1f}" for state, mean in average.items())
            )

    def report_server_errors(self) -> None:
        """The exceptions in the server's log, by type and message."""
        if self.server is None or not self.server.log.exists():
            return
        pattern = re.compile(r"^([a-z_][\w.]*\.)?[A-Z]\w*(Error|Exception|Detected|Violation)\b.*")
        found = Counter(
            line[:160]
            for line in self.server.log.read_text(errors="replace").splitlines()
            if pattern.match(line)
        )
        for line, count in found.most_common(8):
            console.print(f"[red]server log: {count:,} x {line}[/red]")

    def report_memory(self, phases: list[Phase]) -> None:
        assert self.sampler is not None
        table = Table(
            title="Server resident memory (MB, all server processes)", title_justify="left"
        )
        for column in (
            "phase",
            "start",
            "25%",
            "middle",
            "75%",
            "end",
            "peak",
            "per process at end",
        ):
            table.add_column(column, justify="right" if column != "phase" else "left")
        labels = ["idle", *(p.name for p in phases), "after"]
        for label in labels:
            samples = self.sampler.in_phase(label)
            if not samples:
                continue

            def at(fraction: float, samples: list[procstat.Sample] = samples) -> str:
                index = min(len(samples) - 1, round(fraction * (len(samples) - 1)))
                return f"{samples[index].total_kb / MB:.0f}"

            peak = max(samples, key=lambda s: s.total_kb)
            last = samples[-1]
            per_process = " ".join(f"{kb / MB:.0f}" for _, kb in sorted(last.rss.items()))
            table.add_row(
                label,
                at(0),
                at(0.25),
                at(0.5),
                at(0.75),
                at(1),
                f"{peak.total_kb / MB:.0f}",
                per_process,
            )
        console.print(table)
        every = [s for s in self.sampler.samples if s.rss]
        if every:
            peak = max(every, key=lambda s: s.total_kb)
            console.print(
                f"peak RSS {peak.total_kb / MB:.0f} MB (phase {peak.phase}), "
                f"{len(every)} samples every {self.sampler.interval} s"
            )

    def report_profile(self, phase: Phase) -> None:
        summary = phase.profile
        assert summary is not None and summary.samples
        console.print(f"\n[bold]py-spy, {phase.name}[/bold]: {summary.samples:,} samples")
        table = Table(title="by package (self time)", title_justify="left")
        table.add_column("package")
        table.add_column("%", justify="right")
        for name, count in summary.packages[:12]:
            table.add_row(name, f"{count / summary.samples:.1%}")
        console.print(table)
        table = Table(title="by function, inclusive", title_justify="left")
        table.add_column("function")
        table.add_column("%", justify="right")
        for name, count in summary.inclusive:
            table.add_row(name, f"{count / summary.samples:.1%}")
        console.print(table)
        table = Table(title="Herald lines, inclusive", title_justify="left")
        table.add_column("line")
        table.add_column("%", justify="right")
        for name, count in summary.lines:
            table.add_row(name, f"{count / summary.samples:.1%}")
        console.print(table)
        table = Table(title="by function, self", title_justify="left")
        table.add_column("function")
        table.add_column("%", justify="right")
        for name, count in summary.own[:15]:
            table.add_row(name, f"{count / summary.samples:.1%}")
        console.print(table)

    def cleanup(self) -> None:
        self.target.close()
        if self.recorder is not None:
            self.recorder.stop()
        if self.sampler is not None:
            self.sampler.stop()
        for server in (self.server, self.unlimited):
            if server is not None:
                server.stop()


def _is_single(phase: Phase) -> bool:
    return phase.name.startswith("single")


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    # An interrupted phase leaves tasks behind; asyncio would log each one's KeyboardInterrupt.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    target: Target = (
        Postgres(options.postgres_url) if options.database == "postgresql" else Sqlite(tmp / "data")
    )
    bench: Bench | None = None
    status = 1
    console.print(
        f"[bold]Herald ingestion benchmark[/bold]: {options.events:,} batched + "
        f"{options.single:,} single events, seed {options.seed}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    try:
        target.create()
        bench = Bench(options, target, tmp)
        status = bench.run()
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; cleaning up.[/yellow]")
        status = 130
    except Exception:
        console.print_exception(max_frames=8)
        if bench is not None and bench.server is not None:
            console.print(f"[dim]server log tail:\n{bench.server.log_tail()}[/dim]")
    finally:
        # A second Ctrl-C must not leave a server or a database behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if bench is not None:
            bench.cleanup()
        if options.keep:
            console.print(f"[yellow]Kept {target.herald_url} and {tmp}[/yellow]")
        else:
            try:
                target.drop()
            except Exception as exc:
                console.print(f"[red]Could not drop the scratch database: {exc}[/red]")
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
