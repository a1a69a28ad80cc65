"""An organization's rate limits: what is in force and used, and an owner's changes. No HTTP."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from herald.db import on_commit
from herald.errors import FieldError, InvalidInput
from herald.models import ApiKey, OrganizationRateLimits
from herald.ratelimit import policy, schemas
from herald.ratelimit.policy import KINDS, LEVELS, PERIODS, Kind, Level, OrgLimits, Period
from herald.tenancy.scope import scoped


def _row(session: Session, org_id: uuid.UUID) -> OrganizationRateLimits | None:
    # The organization's id is the row's key: no other organization's row can be read.
    return session.get(OrganizationRateLimits, org_id)


def field_name(kind: Kind, level: Level, period: Period) -> str:
    return f"{kind}.{level}.per_{period}"


def rate_limits(session: Session, org_id: uuid.UUID) -> schemas.RateLimits:
    limits = OrgLimits.from_row(_row(session, org_id))

    def window(kind: Kind, level: Level, period: Period) -> schemas.WindowLimit:
        return schemas.WindowLimit(
            limit=limits.values[kind, level, period],
            default=policy.default(kind, level, period),
            ceiling=policy.ceiling(kind, period),
            custom=(kind, level, period) in limits.custom,
            used=policy.usage(limits, kind, org_id, None, period)
            if level == "organization"
            else None,
        )

    def class_limits(kind: Kind) -> schemas.ClassLimits:
        pairs = {
            level: schemas.WindowPair(
                per_second=window(kind, level, "second"), per_minute=window(kind, level, "minute")
            )
            for level in LEVELS
        }
        return schemas.ClassLimits(organization=pairs["organization"], key=pairs["key"])

    def key_usage(key: ApiKey, kind: Kind) -> schemas.Usage:
        return schemas.Usage(
            per_second=policy.usage(limits, kind, org_id, key.id, "second"),
            per_minute=policy.usage(limits, kind, org_id, key.id, "minute"),
        )

    keys = session.scalars(
        scoped(ApiKey, org_id).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at)
    )
    return schemas.RateLimits(
        ingestion=class_limits("ingestion"),
        management=class_limits("management"),
        public=schemas.PublicLimits(
            per_second=policy.public_limit("second"), per_minute=policy.public_limit("minute")
        ),
        keys=[
            schemas.KeyUsage(
                api_key_id=key.id,
                name=key.name,
                kind=key.kind,
                prefix=key.prefix,
                ingestion=key_usage(key, "ingestion"),
                management=key_usage(key, "management"),
            )
            for key in keys
        ],
    )


def _changes(
    body: schemas.RateLimitsUpdate, *, replace: bool
) -> dict[tuple[Kind, Level, Period], int | None]:
    """The values the body sets (None: back to the default). PATCH names what changes; PUT
    names everything, and what it leaves out is the default."""
    changes: dict[tuple[Kind, Level, Period], int | None] = {}
    for kind in KINDS:
        given_class: schemas.ClassLimitsUpdate | None = getattr(body, kind)
        for level in LEVELS:
            pair: schemas.WindowPairUpdate | None = (
                getattr(given_class, level) if given_class is not None else None
            )
            for period in PERIODS:
                name = f"per_{period}"
                if pair is not None and name in pair.model_fields_set:
                    changes[kind, level, period] = getattr(pair, name)
                elif replace:
                    changes[kind, level, period] = None
    return changes


def update_rate_limits(
    session: Session, org_id: uuid.UUID, body: schemas.RateLimitsUpdate, *, replace: bool
) -> schemas.RateLimits:
    changes = _changes(body, replace=replace)
    problems = [
        FieldError(
            field_name(kind, level, period),
            f"must be at most {policy.ceiling(kind, period)}, this install's ceiling",
        )
        for (kind, level, period), value in changes.items()
        if value is not None and value > policy.ceiling(kind, period)
    ]
    if problems:
        raise InvalidInput.for_fields(problems)
    row = _row(session, org_id)
    if row is None:
        row = OrganizationRateLimits(org_id=org_id)
        session.add(row)
    for (kind, level, period), value in changes.items():
        setattr(row, policy.column(kind, level, period), value)
    session.flush()
    # This process applies the change at once; the others within policy.LIMITS_CACHE_SECONDS.
    on_commit(session, policy.forget_org_limits)
    return rate_limits(session, org_id)
