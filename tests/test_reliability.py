"""Items of the reliability checklist (docs/security.md) that no feature's own tests covered: an
unsubscribe between a campaign's queueing and its sending, a restored backup of a finished
campaign, and the route-wide rules (another organization's ids, public keys) checked on every
operation of the OpenAPI document, so that new routes are held to them as they arrive."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from herald.campaigns import fanout
from herald.db import Database, configure_database, normalize_database_url
from herald.email import service as sending
from herald.email.providers.outbox import outbox_path
from herald.messaging import ledger, tracking
from herald.models import MessageEvent, Suppression
from herald.worker import run_sweeps
from tests.conftest import Backend
from tests.factories import make_org
from tests.fuzzing import seed
from tests.queueing import drain, use_real_queue
from tests.test_campaigns import act, campaign_messages, get, ready_campaign, sent_events


def _finish(client: TestClient, database: Database, org: Any, campaign_id: str) -> None:
    for _ in range(5):
        drain()
        fanout.pump(database)
        if get(client, org, campaign_id)["status"] == "sent":
            return
    raise AssertionError(get(client, org, campaign_id))


def test_an_unsubscribe_after_a_campaign_queued_its_messages_is_honoured(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 3)
    use_real_queue(backend)
    assert act(client, org, campaign["id"], "send").status_code == 202
    drain()  # the snapshot
    assert fanout.fan_out(database, uuid.UUID(campaign["id"]), limit=10) == 3
    queued = campaign_messages(database, campaign["id"])
    assert {m.status for m in queued} == {ledger.QUEUED}
    # One reader unsubscribes with the one-click link of an earlier message while the sends wait
    # in the queue.
    leaving = queued[0]
    url = tracking.unsubscribe_url(leaving.id).removeprefix(tracking.base_url())
    client.cookies.clear()
    response = client.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    _finish(client, database, org, campaign["id"])
    final = {m.id: m.status for m in campaign_messages(database, campaign["id"])}
    assert final.pop(leaving.id) == ledger.SUPPRESSED
    assert set(final.values()) == {ledger.SENT}
    assert not outbox_path(backend.data_dir, org.org_id, leaving.id).exists()


@pytest.fixture
def restore(backend: Backend, database: Database, tmp_path: Path) -> Iterator[Any]:
    """`restore()` copies the database as a backup restored elsewhere would hold it, and points
    Herald at the copy; the original is Herald's again afterwards."""
    made: list[str] = []

    def copy() -> Database:
        if backend.name == "sqlite":
            target = tmp_path / "restored.db"
            source_path = sa.make_url(backend.database_url).database
            with sqlite3.connect(source_path) as source, sqlite3.connect(target) as copied:
                source.backup(copied)
            return configure_database(f"sqlite:///{target}")
        name = f"herald_restored_{uuid.uuid4().hex[:10]}"
        original = sa.make_url(normalize_database_url(backend.database_url))
        database.engine.dispose()  # a template database must have no open connections
        admin = sa.create_engine(original.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{original.database}"'))
        admin.dispose()
        made.append(name)
        return configure_database(str(original.set(database=name)))

    yield copy
    configure_database(backend.database_url)
    if made:
        original = sa.make_url(normalize_database_url(backend.database_url))
        admin = sa.create_engine(original.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in made:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_restored_backup_does_not_resend_a_finished_campaign(
    client: TestClient, database: Database, backend: Backend, restore: Any
) -> None:
    org = make_org()
    campaign = ready_campaign(client, database, org, 3)
    use_real_queue(backend)
    act(client, org, campaign["id"], "send")
    _finish(client, database, org, campaign["id"])
    sent = campaign_messages(database, campaign["id"])
    files = {m.id: outbox_path(backend.data_dir, org.org_id, m.id).stat().st_mtime_ns for m in sent}

    restored = restore()
    # Everything that runs after a restart: every sweep, the campaign pump, the kicks a queue
    # may still hold (each message's send again), and the campaign's own send once more.
    run_sweeps()
    fanout.pump(restored)
    for message in sent:
        assert sending.send_message(restored, message.id) == "done"
    assert act(client, org, campaign["id"], "send").status_code == 409
    drain()
    fanout.pump(restored)
    drain()

    after = campaign_messages(restored, campaign["id"])
    assert {m.id for m in after} == set(files)
    assert {m.status for m in after} == {ledger.SENT}
    assert set(sent_events(restored, list(files)).values()) == {1}
    for message_id, written in files.items():
        assert outbox_path(backend.data_dir, org.org_id, message_id).stat().st_mtime_ns == written
    with restored.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 0
        assert session.scalar(
            sa.select(sa.func.count())
            .select_from(MessageEvent)
            .where(MessageEvent.message_id.in_(list(files)), MessageEvent.kind == "sending")
        ) == len(files)
    assert get(client, org, campaign["id"])["status"] == "sent"


# --- Every route --------------------------------------------------------------------------------

INGESTION = {"/api/track", "/api/track/batch", "/api/identify"}
# Operations that name no resource of the caller's organization by id although they have a path
# parameter (none today); listed here with the reason when one appears.
NOT_RESOURCES: dict[str, str] = {}


def _operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_another_organizations_ids_are_404_on_every_route(app: FastAPI, client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    seeds = seed(client, owner)
    checked = []
    for method, path, operation in _operations(app):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        if not names or f"{method} {path}" in NOT_RESOURCES:
            continue
        ids = {name: seeds.for_parameter(name) for name in names}
        missing = [name for name, values in ids.items() if not values]
        assert not missing, f"{method} {path}: no {missing} to try; add one to tests.fuzzing.seed"
        real, unknown = path, path
        for name, values in ids.items():
            real = real.replace("{" + name + "}", values[0])
            unknown = unknown.replace("{" + name + "}", str(uuid.uuid4()))
        body = {} if "requestBody" in operation else None
        response = client.request(method, real, headers=intruder.secret_headers, json=body)
        if response.status_code != 404:
            # A body refused before any lookup: the same answer as for an id that does not exist.
            missing_answer = client.request(
                method, unknown, headers=intruder.secret_headers, json=body
            )
            assert response.status_code in (400, 422), (method, path, response.text)
            assert response.json() == missing_answer.json(), (method, path)
        else:
            checked.append(f"{method} {path}")
    assert len(checked) >= 30, checked
    # Nothing the intruder sent changed the owner's rows.
    for name in ("profile", "segment", "template", "campaign", "suppression"):
        listing = client.get(f"/api/{name}s", headers=owner.secret_headers)
        assert listing.status_code == 200
        assert {row["id"] for row in listing.json()["data"]} >= set(
            seeds.for_parameter(f"{name}_id")
        )


def test_public_keys_cannot_read_or_manage_on_any_route(app: FastAPI, client: TestClient) -> None:
    org = make_org()
    checked = 0
    for method, path, operation in _operations(app):
        if not path.startswith("/api/") or path in INGESTION or path == "/api/auth/login":
            continue
        url = path
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", str(uuid.uuid4()))
        response = client.request(method, url, headers=org.public_headers)
        # Routes for a signed-in person answer 401 to any key; every other one 403.
        assert response.status_code in (401, 403), (method, path, response.text)
        checked += 1
    assert checked >= 60
