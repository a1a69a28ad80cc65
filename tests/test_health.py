"""Liveness and readiness."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from herald.settings import get_settings
from tests.conftest import Backend
from tests.processes import free_port


def test_healthz_needs_nothing(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_and_queue(client: TestClient, backend: Backend) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["queue"] == "ok"
    assert ("redis" in checks) == (backend.redis_url is not None)


def test_readyz_names_an_unreachable_redis(
    client: TestClient, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    get_settings.cache_clear()
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert [f["field"] for f in error["fields"]] == ["redis"]


def test_readyz_names_an_unreachable_database(
    client: TestClient, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from herald.db import configure_database

    configure_database(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    try:
        response = client.get("/readyz")
    finally:
        configure_database(backend.database_url)
    assert response.status_code == 503
    assert "database" in [f["field"] for f in response.json()["error"]["fields"]]
