"""`herald migrate` started by several processes at once (a rolling deploy where every machine
migrates on start): they take turns, all succeed, and the schema ends at the head once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from herald.db import normalize_database_url
from herald.migrations import heads

RACERS = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("postgres_database"))


def test_concurrent_migrations_take_turns(empty_database: str, tmp_path: Path) -> None:
    env = dict(os.environ, HERALD_DATABASE_URL=empty_database, HERALD_DATA_DIR=str(tmp_path))
    env.pop("HERALD_REDIS_URL", None)
    env.setdefault("HERALD_SECRET_KEY", "a-test-secret-key-that-is-long-enough-for-herald")
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "herald", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(RACERS)
    ]
    outputs = [racer.communicate(timeout=300)[0].decode() for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * RACERS, outputs
    engine = sa.create_engine(normalize_database_url(empty_database))
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert sorted(versions.scalars()) == sorted(heads())
    finally:
        engine.dispose()
