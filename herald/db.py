"""Engine, sessions, the declarative base, portable column types and the commit boundary.

Services add and flush; whoever opened the session (a request dependency, a task, a CLI command)
commits or rolls back through `transaction()`. Work that must only happen after a successful
commit (enqueueing a task, mostly) is registered with `on_commit()`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A UUIDv7: random enough to be unguessable, time-ordered so that B-tree inserts stay local."""
    return new_ids(1)[0]


_UUID7_MARKS = (0x7 << 76) | (0b10 << 62)  # version 7, RFC 4122 variant


def new_ids(count: int) -> list[uuid.UUID]:
    """`count` UUIDv7s of the same millisecond, with one call for their randomness (ingestion
    makes a thousand at a time)."""
    millis = time.time_ns() // 1_000_000
    head = ((millis & ((1 << 48) - 1)) << 80) | _UUID7_MARKS
    randomness = os.urandom(10 * count)
    ids = []
    for offset in range(0, 10 * count, 10):
        rand = int.from_bytes(randomness[offset : offset + 10], "big")
        ids.append(uuid.UUID(int=head | (((rand >> 68) & 0xFFF) << 64) | (rand & ((1 << 62) - 1))))
    return ids


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as UTC that refuses naive datetimes and always reads back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Herald stores timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite keeps no offset; what we wrote there was UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class json_text(sa.sql.functions.FunctionElement[str]):  # noqa: N801 (reads as a SQL function)
    """A top-level JSON property as text, the same on both databases: strings as they are,
    numbers as written, booleans as 'true'/'false', a missing key or JSON null as NULL."""

    type = sa.String()
    inherit_cache = True

    def __init__(self, column: Any, key: str) -> None:
        super().__init__(column, sa.literal(key, sa.String))


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    return f"({compiler.process(column, **kw)} ->> {compiler.process(key, **kw)})"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    path = f"'$.' || json_quote({key})"
    # json_extract turns JSON true/false into 1/0; json_type tells them apart from numbers.
    return (
        f"(CASE json_type({column}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"WHEN 'null' THEN NULL ELSE CAST(json_extract({column}, {path}) AS TEXT) END)"
    )


def like_pattern(text: str) -> str:
    """`text` for a LIKE pattern with `escape="\\"`, its own %, _ and \\ taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class text_contains(sa.sql.functions.FunctionElement[bool]):  # noqa: N801
    """Whether `needle` occurs in `haystack`, case-sensitively on both databases (LIKE is not:
    SQLite's ignores ASCII case)."""

    type = sa.Boolean()
    inherit_cache = True

    def __init__(self, haystack: Any, needle: Any) -> None:
        super().__init__(haystack, needle)


@compiles(text_contains, "postgresql")
def _text_contains_postgresql(element: text_contains, compiler: Any, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strpos({haystack}, {needle}) > 0)"


@compiles(text_contains, "sqlite")
def _text_contains_sqlite(element: text_contains, compiler: Any, **kw: Any) -> str:
    haystack, needle = (compiler.process(c, **kw) for c in element.clauses)
    return f"(instr({haystack}, {needle}) > 0)"


class json_value_like(sa.sql.functions.FunctionElement[bool]):  # noqa: N801
    """Whether some top-level text or number value of a JSON object matches a LIKE pattern
    (escaped with a backslash), ignoring case; keys, nested values and booleans do not count."""

    type = sa.Boolean()
    inherit_cache = True

    def __init__(self, column: Any, pattern: str) -> None:
        super().__init__(column, sa.literal(pattern, sa.String))


@compiles(json_value_like, "postgresql")
def _json_value_like_postgresql(element: json_value_like, compiler: Any, **kw: Any) -> str:
    column, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return (
        # Only compiled clauses are joined in: the pattern stays a bound parameter.
        f"(jsonb_typeof({column}) = 'object' AND EXISTS (SELECT 1 FROM jsonb_each({column}) AS kv"  # noqa: S608
        " WHERE jsonb_typeof(kv.value) IN ('string', 'number')"
        f" AND lower(kv.value #>> '{{}}') LIKE {pattern} ESCAPE '\\'))"
    )


@compiles(json_value_like, "sqlite")
def _json_value_like_sqlite(element: json_value_like, compiler: Any, **kw: Any) -> str:
    column, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"(json_type({column}) = 'object' AND EXISTS (SELECT 1 FROM json_each({column}) AS kv"  # noqa: S608
        " WHERE kv.type IN ('text', 'integer', 'real')"
        f" AND lower(kv.value) LIKE {pattern} ESCAPE '\\'))"
    )


class month_day(sa.sql.functions.FunctionElement[str]):  # noqa: N801
    """A UTC timestamp column's month and day as 'MM-DD', for anniversaries."""

    type = sa.String()
    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)


@compiles(month_day, "postgresql")
def _month_day_postgresql(element: month_day, compiler: Any, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"to_char({column} AT TIME ZONE 'UTC', 'MM-DD')"


@compiles(month_day, "sqlite")
def _month_day_sqlite(element: month_day, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as 'YYYY-MM-DD HH:MM:SS...' text.
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"substr({column}, 6, 5)"


def normalize_database_url(url: str) -> str:
    """Let users write plain `postgresql://` URLs; Herald talks to PostgreSQL through psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps_unescaped(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def create_engine(url: str) -> Engine:
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            # Keys stored as written, not as \u escapes: SQLite's JSON paths compare a key with
            # its stored text, so an escaped "größe" was never found by json_extract.
            json_serializer=_json_dumps_unescaped,
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        # No server-side prepared statements: after five runs psycopg would prepare a query and
        # PostgreSQL may switch to a generic plan, which for `unique_id IN (...1000 ids)` on a
        # freshly grown table was 650 times slower (1.7 s) than planning with the real values.
        connect_args={"prepare_threshold": None},
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin, so SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer, which the API and the worker both need.
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Wait for a competing writer instead of failing at once with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Durable across process crashes in WAL mode; only an OS crash can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    turns = WriteTurns()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        owner = connection.connection.dbapi_connection
        if not turns.take(owner, SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked (waited for this process's turn)")
        try:
            # IMMEDIATE takes the write lock up front. A deferred transaction that reads and
            # then writes fails at once with "database is locked" when another connection wrote
            # in between (busy_timeout cannot help there); this way it waits its turn instead.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            turns.give_back(owner)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: sa.Connection) -> None:
        turns.give_back(connection.connection.dbapi_connection)

    # A connection given back to the pool, closed or invalidated with a transaction open.
    @event.listens_for(engine.pool, "reset")
    @event.listens_for(engine.pool, "close")
    @event.listens_for(engine.pool, "invalidate")
    def _on_release(dbapi_connection: Any, *_args: Any) -> None:
        turns.give_back(dbapi_connection)


class WriteTurns:
    """This process's SQLite transactions take their turns first come, first served.

    Every SQLite transaction here holds the database's write lock from its BEGIN IMMEDIATE to
    its end. Left to SQLite, a waiting connection polls with growing sleeps, so a thread that
    commits and at once begins again (an import committing batch after batch) gets the lock back
    every time, and a request on another thread waits until the import ends or its busy timeout
    runs out. A transaction therefore first waits here for the ones that asked before it. A turn
    is handed on when a transaction commits or rolls back; SQLite's own lock still orders this
    process against other processes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: object | None = None
        self._waiting: deque[tuple[object, threading.Event]] = deque()

    def take(self, owner: object, timeout: float) -> bool:
        """Wait until it is `owner`'s turn; False if that took longer than `timeout` seconds."""
        with self._lock:
            if self._holder is None and not self._waiting:
                self._holder = owner
                return True
            entry = (owner, threading.Event())
            self._waiting.append(entry)
        if entry[1].wait(timeout):
            return True
        with self._lock:
            if entry[1].is_set():  # handed over just as the wait ran out
                return True
            self._waiting.remove(entry)
            return False

    def give_back(self, owner: object) -> None:
        """End `owner`'s turn, if it has it, and hand it to the longest waiting."""
        with self._lock:
            if self._holder is not owner:
                return
            if self._waiting:
                self._holder, ready = self._waiting.popleft()
                ready.set()
            else:
                self._holder = None


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = normalize_database_url(url)
        self.engine = create_engine(self.url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


_database: Database | None = None


def configure_database(url: str) -> Database:
    """Point the process at a database; the API, tasks and CLI all use this one."""
    global _database
    if _database is not None and _database.url == normalize_database_url(url):
        return _database
    if _database is not None:
        _database.dispose()
    _database = Database(url)
    return _database


def get_database() -> Database:
    if _database is None:
        from herald.settings import get_settings

        return configure_database(get_settings().resolved_database_url)
    return _database


# --- Work that waits for the commit -------------------------------------------------------------

_ON_COMMIT = "herald_on_commit"


def _open_transactions(session: Session) -> tuple[SessionTransaction, ...]:
    """The innermost open transaction and every one enclosing it, out to the root."""
    chain: list[SessionTransaction] = []
    transaction = session.get_nested_transaction() or session.get_transaction()
    while transaction is not None:
        chain.append(transaction)
        transaction = transaction.parent
    return tuple(chain)


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's outermost transaction commits; forget it on rollback.

    A callback registered inside a SAVEPOINT is dropped if that savepoint, or any transaction
    around it, rolls back; releasing a savepoint runs nothing.
    """
    pending: list[tuple[tuple[SessionTransaction, ...], Callable[[], None]]]
    pending = session.info.setdefault(_ON_COMMIT, [])
    pending.append((_open_transactions(session), callback))


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    # SQLAlchemy also calls this when a SAVEPOINT is released (the savepoint is still the
    # current nested transaction then); only the outermost commit counts.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_ON_COMMIT, [])
    for _transactions, callback in pending:
        try:
            callback()
        except Exception:
            # The data is committed; a lost kick is what the periodic sweep exists for.
            logger.exception("post-commit callback %r failed", callback)


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_ON_COMMIT)
    if pending:
        session.info[_ON_COMMIT] = [p for p in pending if previous_transaction not in p[0]]
