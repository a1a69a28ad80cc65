"""Every ORM model, importable from one place, so Alembic and every domain see the same tables."""

from herald.models.idempotency import IdempotencyRecord
from herald.models.job import Job
from herald.models.organization import ApiKey, Organization, User, UserSession

__all__ = ["ApiKey", "IdempotencyRecord", "Job", "Organization", "User", "UserSession"]
