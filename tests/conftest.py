"""Test infrastructure: each database test runs on SQLite and on PostgreSQL (Redis as the queue).

PostgreSQL and Redis come from HERALD_TEST_DATABASE_URL and HERALD_TEST_REDIS_URL. Without them,
those variants are skipped, unless HERALD_TEST_REQUIRE_SERVICES=1 (as in CI) turns a missing
service into a failure. Every test session creates its own databases from the migrations and drops
them at the end; every test starts from empty tables.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Before anything imports herald's settings.
os.environ["HERALD_SECRET_KEY"] = secrets.token_urlsafe(48)
os.environ["HERALD_ENV"] = "test"
for _name in ("HERALD_DATABASE_URL", "HERALD_REDIS_URL", "HERALD_DATA_DIR"):
    os.environ.pop(_name, None)

import sqlalchemy as sa  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from herald.db import Base, Database, configure_database, normalize_database_url  # noqa: E402
from herald.migrations import upgrade  # noqa: E402
from herald.ratelimit import configure_rate_limits  # noqa: E402
from herald.settings import get_settings  # noqa: E402
from herald.worker import configure_queue, huey  # noqa: E402
from tests.fakes.dns import FakeDns  # noqa: E402

# Settings → Email's DNS check asks this server (it knows no name) unless a test starts its own:
# no test, the fuzzing included, asks the machine's resolver or waits for its timeouts.
_NO_NAMES_DNS = FakeDns().__enter__()
os.environ["HERALD_DNS_SERVERS"] = _NO_NAMES_DNS.server

REQUIRE_SERVICES = os.environ.get("HERALD_TEST_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("HERALD_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HERALD_TEST_REDIS_URL")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def _missing(service: str, variable: str) -> None:
    message = f"{service} tests need {variable}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (HERALD_TEST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'herald.db'}"
    upgrade(url)
    return url


def _admin_url(url: str, database: str) -> str:
    return str(sa.make_url(normalize_database_url(url)).set(database=database))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not PG_URL:
        _missing("PostgreSQL", "HERALD_TEST_DATABASE_URL")
    name = f"herald_test_{WORKER}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(_admin_url(PG_URL, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = _admin_url(PG_URL, name)
    try:
        upgrade(url)
        yield url
    finally:
        configure_database("sqlite://")  # release pooled connections to the test database
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        _missing("Redis", "HERALD_TEST_REDIS_URL")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"Redis unreachable: {exc}")
    return REDIS_URL


@dataclass
class Backend:
    name: str
    database_url: str
    redis_url: str | None
    data_dir: Path


def _empty_tables(database: Database) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with database.engine.begin() as connection:
        if database.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(sa.text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """Configures the process (settings, database, queue) for one backend; empties it afterwards."""
    if request.param == "sqlite":
        chosen = Backend("sqlite", request.getfixturevalue("sqlite_url"), None, tmp_path)
    else:
        chosen = Backend(
            "postgresql",
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("redis_url"),
            tmp_path,
        )
    monkeypatch.setenv("HERALD_DATABASE_URL", chosen.database_url)
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))
    if chosen.redis_url:
        monkeypatch.setenv("HERALD_REDIS_URL", chosen.redis_url)
    get_settings.cache_clear()
    database = configure_database(chosen.database_url)
    _empty_tables(database)
    configure_queue(
        redis_url=chosen.redis_url, data_dir=tmp_path, immediate=True, name=f"herald-test-{WORKER}"
    )
    huey.flush()
    yield chosen
    huey.flush()
    _empty_tables(database)
    get_settings.cache_clear()


@pytest.fixture
def database(backend: Backend) -> Database:
    return configure_database(backend.database_url)


@pytest.fixture
def app(backend: Backend) -> FastAPI:
    from herald.app import create_app

    application = create_app(get_settings())
    # Rate-limit counters of this test only, even when other runs share the Redis.
    configure_rate_limits(backend.redis_url, key_prefix=f"herald-test-{uuid.uuid4().hex}")
    # create_app points the queue at the configured storage; tests run tasks inline by default.
    configure_queue(
        redis_url=backend.redis_url,
        data_dir=backend.data_dir,
        immediate=True,
        name=f"herald-test-{WORKER}",
    )
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client
