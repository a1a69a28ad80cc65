"""Fixtures of the operations tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from herald.db import normalize_database_url
from tests.conftest import PG_URL, _missing


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    if not PG_URL:
        _missing("PostgreSQL", "HERALD_TEST_DATABASE_URL")
    name = f"herald_ops_{uuid.uuid4().hex[:8]}"
    admin_url = sa.make_url(normalize_database_url(PG_URL)).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
