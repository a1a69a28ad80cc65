"""HTTP handlers for an organization's rate limits."""

from __future__ import annotations

from fastapi import APIRouter

from herald.ratelimit import schemas, service
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["organization"], route_class=JsonBodyRoute)


@router.get("/api/rate-limits", operation_id="get_rate_limits")
def get_rate_limits(auth: ManagementAuth, session: DbSession) -> schemas.RateLimits:
    """The organization's limits in force, the install's defaults and ceilings, and what is
    used now (per organization, and per active API key)."""
    return service.rate_limits(session, auth.org_id)


@router.put("/api/rate-limits", operation_id="replace_rate_limits")
def replace_rate_limits(
    body: schemas.RateLimitsUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.RateLimits:
    """Set every limit (owners only): a value left out or null is the install's default."""
    auth.require_role("owner")
    return service.update_rate_limits(session, auth.org_id, body, replace=True)


@router.patch("/api/rate-limits", operation_id="update_rate_limits")
def update_rate_limits(
    body: schemas.RateLimitsUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.RateLimits:
    """Change the limits the body names (owners only); null goes back to the default. A value
    above the install's ceiling is refused naming its field."""
    auth.require_role("owner")
    return service.update_rate_limits(session, auth.org_id, body, replace=False)
