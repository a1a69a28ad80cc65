"""Running the migrations from code: `herald migrate`, `herald run` and the test suite use this."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def heads(database_url: str = "sqlite://") -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
