"""Rate limits hold across API processes: two `herald serve` processes on PostgreSQL share their
counts through Redis, each spending blocks it reserved of the shared windows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from herald.db import Database
from herald.models import OrganizationRateLimits
from herald.ratelimit.blocks import BLOCK_SHARE
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org
from tests.processes import default_sigint, free_port


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "herald", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@pytest.fixture
def servers(backend: Backend, database: Database, tmp_path: Path) -> Iterator[list[str]]:
    if backend.name != "postgresql":
        pytest.skip("several API processes share their limits through Redis")
    assert backend.redis_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_ENV="production",
        HERALD_DATABASE_URL=backend.database_url,
        HERALD_REDIS_URL=backend.redis_url,
        HERALD_DATA_DIR=str(tmp_path),
        HERALD_SECRET_KEY=os.environ["HERALD_SECRET_KEY"],
        HERALD_LOG_LEVEL="warning",
    )
    started = [_serve(env, tmp_path / f"serve-{n}.log") for n in range(2)]
    try:
        yield [base for _process, base in started]
    finally:
        for process, _base in started:
            process.send_signal(signal.SIGINT)
        for process, _base in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _org_with_limits(database: Database, **limits: int) -> OrgFixture:
    org = make_org()
    with database.transaction() as session:
        session.add(OrganizationRateLimits(org_id=org.org_id, **limits))
    return org


def _send(bases: list[str], org: OrgFixture, count: int, tag: str) -> list[int]:
    clients = [httpx.Client(base_url=base, headers=org.public_headers) for base in bases]
    statuses = []
    try:
        for i in range(count):
            response = clients[i % 2].post(
                "/api/track",
                json={
                    "event": "E",
                    "profile": {"email": "p@example.com"},
                    "unique_id": f"{tag}{i}",
                },
            )
            assert response.status_code in (202, 429), response.text
            assert int(response.headers["ratelimit-remaining"]) >= 0
            statuses.append(response.status_code)
    finally:
        for client in clients:
            client.close()
    return statuses


def test_two_processes_share_each_window(servers: list[str], database: Database) -> None:
    # Small limits: blocks of one request, so the count is exact.
    exact = _org_with_limits(database, ingestion_key_per_minute=40)
    statuses = _send(servers, exact, 100, "a")
    assert statuses.count(202) == 40
    assert set(statuses[statuses.index(429) :]) == {429}

    # Larger ones: each process spends blocks of up to a 50th; only their unspent parts are
    # refused to the other process (the strict side), and never more is admitted.
    blocks = _org_with_limits(database, ingestion_organization_per_minute=1000)
    admitted = _send(servers, blocks, 1300, "b").count(202)
    assert 1000 - 2 * (1000 // BLOCK_SHARE) <= admitted <= 1000
