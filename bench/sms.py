"""SMS campaign benchmark: an SMS campaign end to end through Herald's Twilio provider into the
fake Twilio (tests/fakes/twilio) on loopback, on PostgreSQL and Redis with `herald worker`
processes, against the fake's own accept rate in the same run.

  1. creates a scratch database (`herald_bench_sms_<random>`), migrates it, and starts the fake
     Twilio in a process of its own (no status callbacks: this measures sending);
  2. reference: the fake's accept rate for ready-made requests, `--reference` messages over
     `--reference-threads` threads with pooled connections (what Herald's workers could reach
     at best on this machine);
  3. unthrottled: `--recipients` profiles with a phone number and SMS consent (COPY), a segment
     of them, SMS settings pointing at the fake, a campaign; `--workers` workers send it. The
     time covers the snapshot, fan-out, claim, consent and suppression checks, rendering,
     Twilio's HTTP call and the record of each outcome. Target (issue 15): >= 1,000 SMS/s;
  4. throttled: the same with a limit of `--limit` messages a second (the organization's
     `per_second`) on `--throttled` recipients: no one-second window at the fake may hold more
     than the limit, and the average rate must be within 2% of it;
  5. checks exactly-once: the fake accepted each number exactly once, and every message and
     recipient row is `sent`.

    .venv/bin/python bench/sms.py                                    # 100,000 recipients
    .venv/bin/python bench/sms.py --recipients 5000 --throttled 1000 # small
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

if __package__ in (None, ""):  # run as `python bench/sms.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/12"
TARGET_RATE = 1_000
COPY_CHUNK = 50_000
SENDER = "+14155550000"


@dataclass
class Options:
    recipients: int
    throttled: int
    limit: int
    reference: int
    reference_threads: int
    workers: int
    threads: int
    postgres_url: str
    redis_url: str
    time_limit: float


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--throttled", type=int, default=6_000, help="audience of the limited run")
    parser.add_argument("--limit", type=int, default=100, help="messages a second, limited run")
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--reference-threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--postgres-url", default=ADMIN_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--time-limit", type=float, default=1800)
    args = parser.parse_args(argv)
    return Options(**{k.replace("-", "_"): v for k, v in vars(args).items()})


# --- The fake Twilio, in a process of its own ---------------------------------------------------


class Fake:
    def __init__(self, account_sid: str, token: str) -> None:
        self.account_sid, self.token = account_sid, token
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.twilio", account_sid, token],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_fake/stats") as answer:
            result: dict[str, Any] = json.load(answer)
        return result

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def reference_rate(options: Options, fake: Fake) -> float:
    """The fake's accept rate for ready-made requests, pooled connections, several threads."""
    url = f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    per_thread = options.reference // options.reference_threads

    def run(offset: int) -> None:
        with httpx.Client(auth=(fake.account_sid, fake.token)) as client:
            for index in range(per_thread):
                number = f"+1999{offset:03d}{index:06d}"
                client.post(url, data={"To": number, "From": SENDER, "Body": "Reference text"})

    threads = [threading.Thread(target=run, args=(t,)) for t in range(options.reference_threads)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread * options.reference_threads / (time.perf_counter() - started)


# --- Herald -------------------------------------------------------------------------------------


def herald_env(
    options: Options, database_url: str, data_dir: Path, secret: str, fake_url: str
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    env.update(
        # `test` only so that HERALD_OUTBOUND_ALLOW may let the workers reach the loopback fake.
        HERALD_ENV="test",
        HERALD_OUTBOUND_ALLOW="127.0.0.0/8",
        HERALD_TWILIO_API_URL=fake_url,
        HERALD_DATABASE_URL=database_url,
        HERALD_REDIS_URL=options.redis_url,
        HERALD_DATA_DIR=str(data_dir),
        HERALD_SECRET_KEY=secret,
        HERALD_LOG_LEVEL="warning",
        HERALD_BASE_URL="https://sms.shop.bench.example",
        NO_PROXY="*",
    )
    return env


def load_profiles(database_url: str, org_id: uuid.UUID, start: int, count: int, run: str) -> None:
    """Profiles with a phone number, SMS consent and the property `run`, by COPY."""
    now = "2026-12-01 00:00:00+00"
    with psycopg.connect(database_url) as connection:
        for first in range(start, start + count, COPY_CHUNK):
            last = min(start + count, first + COPY_CHUNK)
            ids = [uuid.uuid4() for _ in range(first, last)]
            profiles, consents = io.StringIO(), io.StringIO()
            for index, profile_id in zip(range(first, last), ids, strict=True):
                properties = json.dumps({"run": run})
                profiles.write(f"{profile_id}\t{org_id}\t+1202{index:07d}\tP{index}\t")
                profiles.write(f"{properties}\t")
                profiles.write(f"{now}\t{now}\n")
                consents.write(f"{profile_id}\tsms\t{org_id}\tt\tform\t{now}\n")
            with connection.cursor() as cursor:
                columns = "id, org_id, phone, first_name, properties, created_at, updated_at"
                with cursor.copy(f"COPY profiles ({columns}) FROM STDIN") as copy:
                    copy.write(profiles.getvalue())
                columns = "profile_id, channel, org_id, granted, source, recorded_at"
                with cursor.copy(f"COPY consents ({columns}) FROM STDIN") as copy:
                    copy.write(consents.getvalue())
        connection.execute("ANALYZE profiles")
        connection.execute("ANALYZE consents")


def set_up_campaign(
    database_url: str, org_id: uuid.UUID, name: str, start: int, count: int
) -> uuid.UUID:
    from herald.campaigns import service as campaigns
    from herald.db import get_database
    from herald.segments import service as segments

    load_profiles(database_url, org_id, start, count, name)
    with get_database().transaction() as session:
        segment = segments.create_segment(
            session,
            org_id,
            name=name,
            description=None,
            definition={
                "conditions": [
                    {"type": "profile", "property": "run", "operator": "equals", "value": name}
                ]
            },
        )
        segment_id = segment.id
    with get_database().transaction() as session:
        campaign = campaigns.create_campaign(
            session,
            org_id,
            {
                "name": name,
                "channel": "sms",
                "sms_body": "{{ profile.first_name }}: 20% off all tea today. Reply STOP to end.",
                "include_segment_ids": [segment_id],
                "smart_sending": False,
            },
        )
        return campaign.id


def run_campaign(
    options: Options, org_id: uuid.UUID, campaign_id: uuid.UUID, fake: Fake, expected: int
) -> float:
    from herald.campaigns import lifecycle
    from herald.db import get_database
    from herald.models import Campaign

    before = fake.stats()["accepted"]
    started = time.perf_counter()
    with get_database().transaction() as session:
        lifecycle.send_now(session, org_id, campaign_id)
    while True:
        with get_database().transaction() as session:
            campaign = session.get(Campaign, campaign_id, populate_existing=True)
            status = campaign.status if campaign is not None else "missing"
        accepted = fake.stats()["accepted"] - before
        if status == "sent" and accepted >= expected:
            return time.perf_counter() - started
        if time.perf_counter() - started > options.time_limit:
            raise RuntimeError(f"time limit: {accepted} of {expected} accepted, {status}")
        time.sleep(0.2)


def windows(times: list[float]) -> tuple[int, float]:
    """The most messages in any one-second window (sliding), and the average rate."""
    times = sorted(times)
    most, left = 0, 0
    for right, at in enumerate(times):
        while at - times[left] >= 1.0:
            left += 1
        most = max(most, right - left + 1)
    average = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return most, average


def verify(org_id: uuid.UUID, campaign_id: uuid.UUID, stats: dict[str, Any], count: int) -> None:
    import sqlalchemy as sa

    from herald.db import get_database
    from herald.models import CampaignRecipient, Message

    with get_database().transaction() as session:
        messages = dict(
            session.execute(
                sa.select(Message.status, sa.func.count())
                .where(Message.source_id == campaign_id)
                .group_by(Message.status)
            ).all()
        )
        recipients = dict(
            session.execute(
                sa.select(CampaignRecipient.status, sa.func.count())
                .where(CampaignRecipient.campaign_id == campaign_id)
                .group_by(CampaignRecipient.status)
            ).all()
        )
    print(f"  messages by status: {messages}; recipients by status: {recipients}")
    assert messages == {"sent": count}, messages
    assert recipients == {"sent": count}, recipients


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    from herald.db import configure_database
    from herald.migrations import upgrade
    from herald.ratelimit import configure_rate_limits
    from herald.settings import get_settings
    from herald.sms import configuration, schemas
    from herald.tenancy import service as tenancy
    from herald.worker import configure_queue

    name = f"herald_bench_sms_{secrets.token_hex(4)}"
    admin = psycopg.connect(options.postgres_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{options.postgres_url.rpartition('/')[0]}/{name}"
    account, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    fake = Fake(account, token)
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-sms-"))
    secret = secrets.token_urlsafe(48)
    env = herald_env(options, database_url, tmp, secret, fake.url)
    os.environ.update(env)
    get_settings.cache_clear()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        import redis

        redis.Redis.from_url(options.redis_url).flushdb()
        upgrade(database_url)
        configure_database(database_url)
        configure_queue(redis_url=options.redis_url, data_dir=tmp, immediate=True)
        configure_rate_limits(options.redis_url)
        print(f"reference: {options.reference:,} ready-made requests to the fake Twilio...")
        reference = reference_rate(options, fake)
        print(f"  the fake accepts {reference:,.0f} messages/s")

        from herald.db import get_database

        with get_database().transaction() as session:
            organization, _owner = tenancy.create_organization(
                session, "Bench Tea", "owner@tea.bench.example", secrets.token_urlsafe(16)
            )
            org_id = organization.id
            configuration.update(
                session,
                org_id,
                schemas.SmsSettingsUpdate(
                    account_sid=account,
                    auth_token=token,
                    sender_numbers=[SENDER],
                    quiet_hours=False,
                ),
            )
        print(f"setting up {options.recipients:,} recipients...")
        big = set_up_campaign(database_url, org_id, "Unthrottled", 0, options.recipients)
        # Kicks go to the workers from here on.
        configure_queue(redis_url=options.redis_url, data_dir=tmp)
        for _ in range(options.workers):
            log = open(tmp / f"worker-{len(workers)}.log", "wb")  # noqa: SIM115
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "herald", "worker", "--workers", str(options.threads)],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        before = fake.stats()
        seconds = run_campaign(options, org_id, big, fake, options.recipients)
        after = fake.stats()
        rate = options.recipients / seconds
        print(f"unthrottled: {options.recipients:,} SMS in {seconds:.1f} s = {rate:,.0f} SMS/s")
        print(f"  reference {reference:,.0f}/s; ratio {rate / reference:.2f}; target {TARGET_RATE}")
        accepted = after["accepted"] - before["accepted"]
        unique = after["unique_to"] - before["unique_to"]
        print(f"  the fake accepted {accepted:,} messages to {unique:,} numbers")
        assert accepted == unique == options.recipients, "a message was sent twice or lost"
        verify(org_id, big, after, options.recipients)

        configure_queue(redis_url=options.redis_url, data_dir=tmp, immediate=True)
        small = set_up_campaign(
            database_url, org_id, "Throttled", options.recipients, options.throttled
        )
        configure_queue(redis_url=options.redis_url, data_dir=tmp)
        with get_database().transaction() as session:
            configuration.update(
                session,
                org_id,
                schemas.SmsSettingsUpdate(
                    account_sid=account,
                    sender_numbers=[SENDER],
                    quiet_hours=False,
                    per_second=options.limit,
                ),
            )
        seconds = run_campaign(options, org_id, small, fake, options.throttled)
        times = fake.stats()["times"][after["accepted"] :]
        most, average = windows(times)
        print(
            f"throttled at {options.limit}/s: {options.throttled:,} SMS in {seconds:.1f} s; "
            f"busiest one-second window {most}; average {average:.1f}/s "
            f"({(average / options.limit - 1) * 100:+.1f}% of the limit)"
        )
        verify(org_id, small, {}, options.throttled)
        print(
            "  limit kept: "
            + ("yes" if most <= options.limit else "NO")
            + "; average within 2%: "
            + ("yes" if abs(average / options.limit - 1) <= 0.02 else "NO")
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
        fake.stop()
        from herald.db import configure_database as reset

        reset("sqlite://")
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
