"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import hmac
import logging

import sqlalchemy as sa
from fastapi import APIRouter, Header, Response
from pydantic import BaseModel

from herald.db import get_database
from herald.errors import FieldError, NotAuthenticated, NotFound, ServiceUnavailable
from herald.routing import JsonBodyRoute
from herald.settings import get_settings
from herald.worker import queue_is_reachable

logger = logging.getLogger(__name__)
router = APIRouter(tags=["system"], route_class=JsonBodyRoute)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", operation_id="healthz")
def healthz() -> Health:
    """The process is up. Checks nothing else, so a slow database never restarts healthy servers."""
    return Health(status="ok")


def _check_database() -> None:
    with get_database().engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def _check_queue() -> None:
    if not queue_is_reachable():
        raise RuntimeError("queue storage did not answer")


def _check_redis() -> None:
    import redis

    url = get_settings().redis_url
    assert url is not None
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


@router.get(
    "/readyz",
    operation_id="readyz",
    responses={503: {"description": "a dependency is unreachable; `error.fields` names it"}},
)
def readyz() -> Readiness:
    """Ready to serve: the database, the queue storage and (when configured) Redis answer."""
    checks = {"database": _check_database, "queue": _check_queue}
    if get_settings().redis_url:
        checks["redis"] = _check_redis
    failures: list[FieldError] = []
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = "unreachable"
            failures.append(FieldError(name, f"unreachable: {type(exc).__name__}"))
    if failures:
        names = ", ".join(f.field for f in failures)
        raise ServiceUnavailable(f"not ready: {names} unreachable", failures, code="not_ready")
    return Readiness(status="ok", checks=results)


@router.get("/metrics", include_in_schema=False)
def metrics(authorization: str | None = Header(default=None)) -> Response:
    """Prometheus metrics of every Herald process on this machine (docs/operations.md); only
    for `Authorization: Bearer $HERALD_METRICS_TOKEN`, and off while no token is set."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from herald.observability.metrics import exposition

    token = get_settings().metrics_token
    if not token:
        raise NotFound("metrics are off: set HERALD_METRICS_TOKEN to turn them on")
    if not hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode()):
        raise NotAuthenticated(
            "send the metrics token as 'Authorization: Bearer …'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
