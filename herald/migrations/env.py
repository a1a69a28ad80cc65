"""Alembic environment: one version tree for SQLite and PostgreSQL, batch mode on SQLite."""

from __future__ import annotations

from alembic import context

from herald.db import Base, create_engine, normalize_database_url
from herald.migrations import include_name
from herald.models import *  # noqa: F403  (every model must be registered on Base.metadata)
from herald.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    return normalize_database_url(configured or get_settings().resolved_database_url)


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
