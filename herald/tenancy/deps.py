"""Request dependencies shared by every router: the database session and its commit boundary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from herald.db import get_database


def get_session() -> Iterator[Session]:
    """One session per request, committed after the handler returns and before the response is
    sent, so a client never sees success for a write that did not commit (DESIGN invariant 2)."""
    with get_database().transaction() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
