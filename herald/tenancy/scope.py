"""The one way to query tenant-owned rows (DESIGN invariant 1).

Every query for a tenant-owned model starts from `scoped()`; fetching by id goes through
`get_scoped()`, so another organization's id is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from herald.errors import NotFound


class TenantOwned(Protocol):
    id: Any
    org_id: Any


Model = TypeVar("Model", bound=TenantOwned)


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
