"""Running the migrations from code: `herald migrate`, `herald run` and the test suite use this."""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from herald.db import normalize_database_url

MIGRATIONS_DIR = Path(__file__).parent
# PostgreSQL's monthly event partitions are managed outside the models (herald.events.partitions).
EVENT_PARTITION = re.compile(r"^events_(p\d{4}_\d{2}|archive)$")


def include_name(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Which database objects autogenerate compares with the models: not the event partitions."""
    if type_ == "table" and name is not None:
        return not EVENT_PARTITION.match(name)
    if type_ == "index" and parent_names.get("table_name"):
        return not EVENT_PARTITION.match(parent_names["table_name"] or "")
    return True


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on a '%' in a password.
    config.set_main_option(
        "sqlalchemy.url", normalize_database_url(database_url).replace("%", "%%")
    )
    return config


# The PostgreSQL advisory lock `herald migrate` holds while it migrates (any constant will do;
# this one spells "HERALD" in ASCII).
MIGRATION_LOCK_KEY = 0x48_45_52_41_4C_44


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate, one process at a time: several `herald migrate` (or `herald run`) started at
    once wait for each other, and each after the first finds the schema already up to date."""
    with migration_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


@contextmanager
def migration_lock(database_url: str) -> Iterator[None]:
    """A PostgreSQL session-level advisory lock on a connection of its own, or on SQLite an
    exclusive lock on a file beside the database (an in-memory database needs none)."""
    url = sa.engine.make_url(normalize_database_url(database_url))
    if url.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(
                    sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                try:
                    yield
                finally:
                    connection.execute(
                        sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    connection.commit()
        finally:
            engine.dispose()
        return
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def heads(database_url: str = "sqlite://") -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
