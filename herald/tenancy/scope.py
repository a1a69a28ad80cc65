"""The one way to query tenant-owned rows (DESIGN invariant 1).

Every query for a tenant-owned model starts from `scoped()`; fetching by id goes through
`get_scoped()`, so another organization's id is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from herald.errors import InvalidInput, NotFound


class TenantOwned(Protocol):
    id: Any
    org_id: Any


Model = TypeVar("Model", bound=TenantOwned)


class NamedTenantOwned(TenantOwned, Protocol):
    name: Any


def scoped(model: type[Model], org_id: uuid.UUID) -> sa.Select[Model]:
    org_column: InstrumentedAttribute[uuid.UUID] = model.org_id
    return sa.select(model).where(org_column == org_id)


def _label(model: type[Any]) -> str:
    # "ApiKey" -> "api key"
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()


def get_scoped(session: Session, model: type[Model], org_id: uuid.UUID, row_id: Any) -> Model:
    id_column: InstrumentedAttribute[Any] = model.id
    row = session.scalar(scoped(model, org_id).where(id_column == row_id))
    if row is None:
        raise NotFound(f"{_label(model)} not found")
    return row


def check_name_free(
    session: Session,
    model: type[NamedTenantOwned],
    org_id: uuid.UUID,
    name: str,
    own_id: uuid.UUID | None,
    taken: str,
) -> None:
    """A 422 on `name` (saying `taken`) when another of the organization's rows has this name:
    names are unique per organization where people pick things by name."""
    id_column: InstrumentedAttribute[Any] = model.id
    org_column: InstrumentedAttribute[uuid.UUID] = model.org_id
    name_column: InstrumentedAttribute[Any] = model.name
    query = sa.select(id_column).where(org_column == org_id, name_column == name)
    if own_id is not None:
        query = query.where(id_column != own_id)
    if session.scalar(query) is not None:
        raise InvalidInput.for_field("name", taken)


def save_named(session: Session, row: NamedTenantOwned, taken: str) -> None:
    """Add and flush in a savepoint: two requests racing for one name get the 422 that
    `check_name_free` gives, not a 500 from the unique index."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise InvalidInput.for_field("name", taken) from exc
