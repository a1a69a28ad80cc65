"""`herald serve --workers 2` on PostgreSQL: two processes on one port, both ingesting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from herald.db import Database
from herald.models import Event
from tests.conftest import Backend
from tests.factories import make_org
from tests.processes import default_sigint, free_port


def test_serve_with_two_workers_ingests_on_postgresql(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    if backend.name != "postgresql":
        pytest.skip("several API processes are for PostgreSQL")
    org = make_org()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_ENV="production",
        HERALD_DATABASE_URL=backend.database_url,
        HERALD_DATA_DIR=str(tmp_path),
        HERALD_SECRET_KEY=os.environ["HERALD_SECRET_KEY"],
        HERALD_LOG_LEVEL="warning",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "herald", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # New connections each time, so that both processes take some.
        for i in range(20):
            response = httpx.post(
                f"{base}/api/track",
                json={"event": "E", "profile": {"email": f"p{i}@example.com"}, "unique_id": str(i)},
                headers={**org.public_headers, "Connection": "close"},
            )
            assert response.status_code == 202, response.text
        batch = [{"event": "B", "profile": {"email": "b@example.com"}}] * 3
        response = httpx.post(
            f"{base}/api/track/batch", json={"events": batch}, headers=org.public_headers
        )
        assert response.status_code == 200 and response.json()["accepted"] == 3
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with database.transaction() as session:
        count = session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.org_id == org.org_id)
        )
    assert count == 23
