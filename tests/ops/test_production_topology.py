"""The production topology under faults: two `herald serve`, two `herald worker` and the
scheduler as separate OS processes on PostgreSQL and a Redis of the test's own. Events are
ingested, a segment fills, a campaign goes out and a flow welcomes subscribers, all through the
API; in the middle a worker is SIGKILLed, Redis is restarted empty and one API process is
restarted. At the end every accepted event is stored once, every message was sent once, the
segment is right and nothing is stuck. How long the recovery took is printed.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from herald.db import normalize_database_url
from tests.conftest import _missing
from tests.processes import default_sigint, free_port
from tests.test_cli import HERALD, herald, herald_env, running, wait_until_healthy

pytestmark = pytest.mark.production

PEOPLE = 1500
BUYERS_FIRST = 1000  # "Placed Order" before the campaign
BUYERS_LATER = 200  # and after it started: the segment grows, the campaign's audience does not
# The last people subscribe, half before the faults and half after; the flow welcomes each.
# They are not buyers: the campaign's smart sending (on by default) would skip a buyer who had
# just got the flow's marketing email.
SUBSCRIBERS = 300
BATCH = 100
DEADLINE = 150.0
STARTUP = 120.0


class OwnRedis:
    """A redis-server of this test's own, keeping nothing on disk: restarting it empties it
    (never the machine's Redis on 6379, which other tests use)."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            _missing("redis-server", "redis-server on PATH")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def herald_process(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*HERALD, *args],
            env=env,
            cwd=env["HERALD_DATA_DIR"],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _events(start: int, stop: int, name: str) -> list[dict[str, Any]]:
    return [
        {
            "event": name,
            "profile": {"email": f"person{i}@example.com"},
            "properties": {"n": i},
            "unique_id": f"{name}-{i}",
        }
        for i in range(start, stop)
    ]


def _post_batches(bases: list[str], key: str, events: list[dict[str, Any]]) -> int:
    """Send in batches round-robin over the API processes, retrying a batch on a connection
    error (a restarting process) as a client would; returns the events accepted."""
    accepted = 0
    for index in range(0, len(events), BATCH):
        body = {"events": events[index : index + BATCH]}
        for attempt in range(30):
            base = bases[(index // BATCH + attempt) % len(bases)]
            try:
                answer = httpx.post(
                    base + "/api/track/batch",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                )
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if answer.status_code >= 500:
                time.sleep(0.5)
                continue
            assert answer.status_code < 300, answer.text
            accepted += answer.json()["accepted"]
            break
        else:
            pytest.fail("a batch was never accepted")
    return accepted


def _wait(what: str, condition: Callable[[], bool], logs: Callable[[], str]) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < DEADLINE, f"{what}:\n{logs()}"
        time.sleep(0.25)
    return time.monotonic() - started


def test_production_topology_survives_a_killed_worker_an_empty_redis_and_an_api_restart(
    postgres_database: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    redis_server = OwnRedis(tmp_path)
    redis_server.start()
    env = herald_env(
        data_dir,
        HERALD_DATABASE_URL=postgres_database,
        HERALD_REDIS_URL=redis_server.url,
        HERALD_SHUTDOWN_GRACE_SECONDS="10",
    )
    engine = sa.create_engine(normalize_database_url(postgres_database))
    logs_dir = tmp_path / "logs"
    logs_dir.mkdir()

    def logs() -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(logs_dir.iterdir())
        )

    def scalar(statement: str, **params: Any) -> Any:
        with engine.connect() as connection:
            return connection.execute(sa.text(statement), params).scalar()

    try:
        assert herald(env, "migrate").returncode == 0
        created = herald(
            env,
            "org",
            "create",
            "Topology",
            "--admin-email",
            "owner@example.com",
            "--admin-password",
            "a long enough password",
            "--json",
        )
        assert created.returncode == 0, created.stderr
        org = json.loads(created.stdout)
        secret = {"Authorization": f"Bearer {org['secret_key']}"}

        with ExitStack() as stack:
            stack.enter_context(herald_process(env, logs_dir / "scheduler.log", "scheduler"))
            doomed = stack.enter_context(
                herald_process(env, logs_dir / "worker-a.log", "worker", "--workers", "2")
            )
            stack.enter_context(
                herald_process(env, logs_dir / "worker-b.log", "worker", "--workers", "2")
            )
            api_one = stack.enter_context(running(env, "serve", logs_dir, wait=False))
            api_two = stack.enter_context(running(env, "serve", logs_dir, wait=False))
            # A loaded machine starts five Python processes slowly.
            wait_until_healthy(api_one, timeout=STARTUP)
            wait_until_healthy(api_two, timeout=STARTUP)
            bases = [api_one.base_url, api_two.base_url]

            settings = httpx.put(
                bases[0] + "/api/email/settings",
                headers=secret,
                timeout=30,
                json={
                    "default_from_email": "shop@acme.example",
                    "default_from_name": "Acme",
                    "postal_address": "1 Harbour Street, Portsmouth",
                },
            )
            assert settings.status_code == 200, settings.text
            template = httpx.post(
                bases[1] + "/api/templates",
                headers=secret,
                timeout=30,
                json={
                    "name": "News",
                    "subject": "News",
                    "body_format": "html",
                    "body": "<p>Hi</p><p>{{ organization.postal_address }}</p>"
                    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
                },
            )
            assert template.status_code == 201, template.text
            segment = httpx.post(
                bases[0] + "/api/segments",
                headers=secret,
                timeout=30,
                json={
                    "name": "Buyers",
                    "definition": {"conditions": [{"type": "event", "metric": "Placed Order"}]},
                },
            )
            assert segment.status_code == 201, segment.text
            segment_id = segment.json()["id"]
            # A flow: every subscriber gets a welcome email.
            flow = httpx.post(
                bases[1] + "/api/flows",
                headers=secret,
                timeout=30,
                json={
                    "name": "Welcome",
                    "definition": {
                        "trigger": {"type": "metric", "metric": "Subscribed"},
                        "start": "email",
                        "steps": [
                            {
                                "id": "email",
                                "type": "send_email",
                                "email": {"template_id": template.json()["id"]},
                                "outputs": {"next": None},
                            }
                        ],
                    },
                },
            )
            assert flow.status_code == 201, flow.text
            flow_id = flow.json()["id"]
            published = httpx.post(
                f"{bases[0]}/api/flows/{flow_id}/publish", headers=secret, timeout=30
            )
            assert published.status_code == 200, published.text

            def members() -> int:
                answer = httpx.get(
                    f"{bases[-1]}/api/segments/{segment_id}", headers=secret, timeout=30
                )
                return int(answer.json()["member_count"]) if answer.status_code == 200 else -1

            accepted = _post_batches(bases, org["public_key"], _events(0, PEOPLE, "Viewed"))
            accepted += _post_batches(
                bases, org["public_key"], _events(0, BUYERS_FIRST, "Placed Order")
            )
            _wait("the segment fills", lambda: members() == BUYERS_FIRST, logs)
            half = PEOPLE - SUBSCRIBERS // 2
            accepted += _post_batches(
                bases, org["public_key"], _events(PEOPLE - SUBSCRIBERS, half, "Subscribed")
            )

            campaign = httpx.post(
                bases[1] + "/api/campaigns",
                headers=secret,
                timeout=30,
                json={
                    "name": "Launch",
                    "template_id": template.json()["id"],
                    "include_segment_ids": [segment_id],
                },
            )
            assert campaign.status_code == 201, campaign.text
            campaign_id = campaign.json()["id"]
            sent = httpx.post(
                f"{bases[1]}/api/campaigns/{campaign_id}/send", headers=secret, timeout=30
            )
            assert sent.status_code < 300, sent.text

            def sent_count() -> int:
                return int(
                    scalar(
                        "SELECT count(*) FROM messages WHERE source_id = :c AND status = 'sent'",
                        c=uuid.UUID(campaign_id),
                    )
                )

            _wait("the first messages go out", lambda: sent_count() > 0, logs)
            # The faults, one after the other.
            faults_at = time.monotonic()
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            sent_at_kill = sent_count()
            redis_server.stop()
            redis_server.start()
            api_one.stop(signal.SIGTERM)
            api_one = stack.enter_context(running(env, "serve", logs_dir, wait=False))
            wait_until_healthy(api_one, timeout=STARTUP)
            bases = [api_one.base_url, api_two.base_url]
            print(
                f"\n{sent_at_kill} of {BUYERS_FIRST} messages sent at the kill; faults done in "
                f"{time.monotonic() - faults_at:.1f}s"
            )
            # The kill came in the middle of the campaign, or it proved nothing.
            assert 0 < sent_at_kill < BUYERS_FIRST

            # More data meanwhile, and a client's retry of a batch already stored.
            accepted += _post_batches(
                bases,
                org["public_key"],
                _events(BUYERS_FIRST, BUYERS_FIRST + BUYERS_LATER, "Placed Order"),
            )
            accepted += _post_batches(bases, org["public_key"], _events(half, PEOPLE, "Subscribed"))
            retried = _post_batches(bases, org["public_key"], _events(0, BATCH, "Viewed"))
            assert retried == 0

            def campaign_status() -> str:
                answer = httpx.get(
                    f"{bases[0]}/api/campaigns/{campaign_id}", headers=secret, timeout=30
                )
                return str(answer.json()["status"]) if answer.status_code == 200 else "?"

            _wait("the campaign completes", lambda: campaign_status() == "sent", logs)
            completed = time.monotonic() - faults_at
            _wait("the segment grows", lambda: members() == BUYERS_FIRST + BUYERS_LATER, logs)
            _wait(
                "nothing is left in flight",
                lambda: (
                    not scalar(
                        "SELECT (SELECT count(*) FROM messages"
                        " WHERE status IN ('queued', 'sending'))"
                        " + (SELECT count(*) FROM jobs WHERE status IN ('pending', 'running'))"
                        " + (SELECT count(*) FROM profile_changes)"
                        " + (SELECT count(*) FROM flow_enrolments"
                        " WHERE status IN ('active', 'waiting'))"
                    )
                ),
                logs,
            )
            print(f"campaign complete {completed:.1f}s after the faults")
    finally:
        redis_server.stop()

    org_id = uuid.UUID(org["org_id"])
    assert accepted == PEOPLE + BUYERS_FIRST + BUYERS_LATER + SUBSCRIBERS
    assert scalar("SELECT count(*) FROM events WHERE org_id = :o", o=org_id) == accepted
    assert (
        scalar("SELECT count(DISTINCT unique_id) FROM events WHERE org_id = :o", o=org_id)
        == accepted
    )
    campaign_uuid = uuid.UUID(campaign_id)
    assert (
        scalar("SELECT count(*) FROM messages WHERE source_id = :c", c=campaign_uuid)
        == BUYERS_FIRST
    )
    assert (
        scalar(
            "SELECT count(*) FROM messages WHERE source_id = :c AND status = 'sent'",
            c=campaign_uuid,
        )
        == BUYERS_FIRST
    )
    # One `sent` record per message, and one stored copy each in the outbox.
    assert (
        scalar(
            "SELECT count(*) FROM message_events e JOIN messages m ON m.id = e.message_id"
            " WHERE m.source_id = :c AND e.kind = 'sent'",
            c=campaign_uuid,
        )
        == BUYERS_FIRST
    )
    # The flow: one enrolment and one message per subscriber, none sent twice, none left.
    subscribers = SUBSCRIBERS
    flow_uuid = uuid.UUID(flow_id)
    assert (
        scalar("SELECT count(*) FROM flow_enrolments WHERE flow_id = :f", f=flow_uuid)
        == subscribers
    )
    flow_messages = "SELECT id FROM messages WHERE source = 'flow' AND org_id = :o"
    assert scalar(f"SELECT count(*) FROM ({flow_messages}) m", o=org_id) == subscribers
    flow_sent = scalar(
        f"SELECT count(*) FROM messages WHERE id IN ({flow_messages}) AND status = 'sent'",
        o=org_id,
    )
    assert flow_sent == subscribers
    most_sent = scalar(
        "SELECT max(c) FROM (SELECT count(*) AS c FROM message_events"
        " WHERE kind = 'sent' GROUP BY message_id) s"
    )
    assert most_sent == 1
    outbox = list((data_dir / "outbox" / org["org_id"]).glob("*.eml"))
    assert len(outbox) == BUYERS_FIRST + flow_sent
    engine.dispose()
