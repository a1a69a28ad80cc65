"""One migration tree that builds, on both databases, exactly the schema the models describe."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from herald.db import Base, create_engine
from herald.migrations import heads, include_name, upgrade
from tests.conftest import Backend


def test_there_is_exactly_one_head() -> None:
    assert len(heads()) == 1


@pytest.fixture
def empty_database(backend: Backend, tmp_path):
    """A brand-new, empty database of the backend's kind."""
    if backend.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"herald_migrate_{uuid.uuid4().hex[:8]}"
    admin_url = sa.make_url(backend.database_url).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(sa.make_url(backend.database_url).set(database=name))
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_from_empty_matches_the_models(empty_database: str) -> None:
    upgrade(empty_database)
    engine = create_engine(empty_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": include_name}
            )
            differences = compare_metadata(context, Base.metadata)
            assert differences == [], f"models and migrations disagree: {differences}"
            tables = set(sa.inspect(connection).get_table_names())
        assert {"organizations", "users", "api_keys", "user_sessions", "jobs"} <= tables
        upgrade(empty_database)  # a second run is a no-op
    finally:
        engine.dispose()
