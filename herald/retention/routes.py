"""HTTP handlers for an organization's retention settings (secret key or dashboard)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from herald.errors import ErrorResponse
from herald.retention import schemas, service
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/retention", tags=["retention"], route_class=JsonBodyRoute)

INVALID: dict[int | str, dict[str, Any]] = {422: {"model": ErrorResponse}}


@router.get("", operation_id="get_retention_settings")
def get_retention(auth: ManagementAuth, session: DbSession) -> schemas.RetentionSettings:
    return _out(session, auth)


@router.patch("", operation_id="update_retention_settings", responses=INVALID)
def update_retention(
    body: schemas.RetentionSettingsUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.RetentionSettings:
    """Set how long raw events (months) and message bodies (days) are kept (admins and owners).
    The daily retention run deletes what is older; `herald retention run` does it now."""
    auth.require_role("admin")
    service.update_settings(session, auth.org_id, body.model_dump(exclude_unset=True))
    return _out(session, auth)


def _out(session: Any, auth: Any) -> schemas.RetentionSettings:
    row = service.get_settings(session, auth.org_id)
    return schemas.RetentionSettings(
        events_months=row.events_months,
        message_bodies_days=row.message_bodies_days,
        events_pruned_before=row.events_pruned_before,
        last_run_at=row.last_run_at,
    )
