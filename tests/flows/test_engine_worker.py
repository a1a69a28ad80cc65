"""With a real `herald worker` process (its pumps, its queue): an event sent to the API reaches
the flow's email within seconds, on SQLite and PostgreSQL, with nothing run by the test."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.messaging import ledger
from herald.models import Message
from tests.conftest import Backend
from tests.flows.engine_helpers import make_flow, sending_org, track
from tests.test_campaign_kill import _reader, worker_process

# Seconds from the event to the email leaving, with the machine shared by other test runs:
# generous, and still far from Klaviyo's minutes.
WITHIN = 15


def test_an_event_reaches_the_flows_email_within_seconds(
    backend: Backend, client: TestClient, database: Database, tmp_path: Path
) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(
        database,
        org.org_id,
        {
            "trigger": {"type": "metric", "metric": "Started Checkout"},
            "start": "email",
            "steps": [
                {
                    "id": "email",
                    "type": "send_email",
                    "email": {"template_id": str(template_id)},
                    "outputs": {"next": None},
                }
            ],
        },
    )
    log = tmp_path / "worker.log"
    with worker_process(backend, log) as worker:

        def sent_within(email: str, seconds: float) -> None:
            started = time.monotonic()
            track(client, org, email, "Started Checkout", {"item": "boots"})
            while True:
                with _reader(database).connect() as connection:
                    status = connection.scalar(
                        sa.select(Message.status).where(
                            Message.source_id == flow_id, Message.to_address == email
                        )
                    )
                if status == ledger.SENT:
                    return
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() - started < seconds, (status, log.read_text())
                time.sleep(0.05)

        # The first one also waits for the worker to start (imports, connections, pumps).
        sent_within("first@example.com", 90)
        sent_within("quick@example.com", WITHIN)
