"""Campaign sending benchmark: a campaign end to end through the SMTP provider into a local sink,
against the sink's own accept rate for pre-rendered messages.

One run, on PostgreSQL and Redis:

  1. creates a scratch database (`herald_bench_campaign_<random>`), migrates it, and starts an
     SMTP sink on a free loopback port in a process of its own (bench/smtpsink.py);
  2. sets up, through Herald's services: an organization, `--recipients` profiles with email
     addresses (loaded with COPY), a segment of them (membership computed), a marketing template
     (the MJML newsletter of bench/render.py: 40 KB of HTML, 10 merge fields, 30 tracked links),
     email settings with the SMTP provider pointed at the sink, and a campaign to the segment;
  3. reference: the sink's accept rate for pre-rendered messages. One message rendered by
     Herald, sent to `--reference` addresses as fast as smtplib goes, over
     `--reference-connections` processes with one connection each;
  4. end to end: starts `--workers` (2) `herald worker` processes, sends the campaign now and
     waits until the campaign is `sent` and the sink has every message. That is the audience
     snapshot, the fan-out into the message ledger, claiming, rendering, MIME, SMTP and recording
     each outcome: all of it is in the time;
  5. checks exactly-once: the sink got each recipient's address exactly once and each Herald
     message id once, the ledger has one message per recipient, all `sent`, each with one `sent`
     event, and every recipient row is `sent`.

It prints both rates and their ratio, where the CPU went (workers, PostgreSQL, Redis, the sink)
and, with `--py-spy DIR`, the workers' hot spots. Target (issue #7): at least 1,000 messages/s
end to end.

    .venv/bin/python bench/campaign.py                      # 100,000 recipients
    .venv/bin/python bench/campaign.py --million            # 1,000,000
    .venv/bin/python bench/campaign.py --recipients 20000   # quick
    .venv/bin/python bench/campaign.py --py-spy /tmp/prof   # with the workers' hot spots
    .venv/bin/python bench/campaign.py --recipients 5000 --provider postmark  # then an API provider
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import secrets
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from rich.progress import (
    Progress,
)
from rich.table import Table

if __package__ in (None, ""):  # run as `python bench/campaign.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import campaign_providers, ingest, procstat, pyspy, smtpsink

console = ingest.console
ADMIN_URL = ingest.ADMIN_URL
# A Redis database of its own: test runs on the same server flush and consume the default one.
REDIS_URL = "redis://127.0.0.1:6379/11"
TARGET_RATE = 1_000
COPY_CHUNK = 50_000
FROM_EMAIL = "news@shop.bench.example"
FIRST_NAMES = ("Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Frances", "Guido")
CITIES = (("Berlin", "DE"), ("Lisbon", "PT"), ("Austin", "US"), ("Osaka", "JP"), ("Leeds", "GB"))


# --- Options ------------------------------------------------------------------------------------


@dataclass
class Options:
    recipients: int
    reference: int
    reference_connections: int
    workers: int
    threads: int
    template: str
    sink: str
    dkim: bool
    postgres_url: str
    redis_url: str
    keep: bool
    time_limit: float
    log_level: str
    py_spy: Path | None
    skip_reference: bool
    provider: str | None = None
    failover: bool = False


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--recipients", type=int, default=100_000, help="campaign audience")
    parser.add_argument("--million", action="store_true", help="1,000,000 recipients")
    parser.add_argument(
        "--reference",
        type=int,
        default=None,
        help="messages in the reference (default: as many as recipients, at most 100,000)",
    )
    parser.add_argument("--reference-connections", type=int, default=2)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--workers", type=int, default=2, help="`herald worker` processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument(
        "--template",
        choices=("newsletter", "plain"),
        default="newsletter",
        help="newsletter: bench/render.py's 40 KB MJML with 30 links; plain: a short HTML note",
    )
    parser.add_argument("--sink", choices=("minimal", "aiosmtpd"), default="minimal")
    parser.add_argument("--dkim", action="store_true", help="sign every message (RSA 2048)")
    parser.add_argument("--postgres-url", default=ADMIN_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument(
        "--keep-database", dest="keep", action="store_true", help="keep the scratch database"
    )
    parser.add_argument("--time-limit", type=float, default=3600, help="seconds for the send")
    parser.add_argument("--log-level", default="warning", help="the workers' log level")
    parser.add_argument("--py-spy", type=Path, default=None, help="profile the workers into DIR")
    parser.add_argument(
        "--provider",
        choices=campaign_providers.KINDS,
        default=None,
        help="after the SMTP run, a second campaign through this API provider's fake "
        "(bench/campaign_providers.py)",
    )
    parser.add_argument(
        "--failover",
        action="store_true",
        help="with --provider: a third campaign with a second provider, the first failing mid-way",
    )
    args = parser.parse_args(argv)
    recipients = 1_000_000 if args.million else args.recipients
    reference = args.reference if args.reference is not None else min(recipients, 100_000)
    return Options(
        recipients=recipients,
        reference=reference,
        reference_connections=args.reference_connections,
        workers=args.workers,
        threads=args.threads,
        template=args.template,
        sink=args.sink,
        dkim=args.dkim,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        keep=args.keep,
        time_limit=args.time_limit,
        log_level=args.log_level,
        py_spy=args.py_spy,
        skip_reference=args.skip_reference,
        provider=args.provider,
        failover=args.failover and args.provider is not None,
    )


# --- The scratch database -------------------------------------------------------------------------


class ScratchDatabase(ingest.Postgres):
    """bench/ingest.py's scratch database (created, described, watched and dropped the same
    way), named for this benchmark."""

    def __init__(self, admin_url: str) -> None:
        super().__init__(admin_url)
        self.name = f"herald_bench_campaign_{secrets.token_hex(4)}"
        self.url = self.herald_url = f"{admin_url.rpartition('/')[0]}/{self.name}"

    def backend_pids(self) -> list[int]:
        return list(self.backends())


# --- Herald processes ---------------------------------------------------------------------------


def herald_env(options: Options, database_url: str, data_dir: Path, secret: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERALD_")}
    env.update(
        # The API providers' fakes listen on loopback, which only a test install may call.
        HERALD_ENV="test" if options.provider else "production",
        HERALD_OUTBOUND_ALLOW="127.0.0.0/8" if options.provider else "",
        HERALD_DATABASE_URL=database_url,
        HERALD_REDIS_URL=options.redis_url,
        HERALD_DATA_DIR=str(data_dir),
        HERALD_SECRET_KEY=secret,
        HERALD_LOG_LEVEL=options.log_level,
        HERALD_BASE_URL="https://mail.shop.bench.example",
        NO_PROXY="*",
    )
    return env


# A `herald worker` process, stopped and read as bench/ingest.py's server is (SIGTERM to its
# process group: the campaign is over by then, there is nothing to finish).
Worker = ingest.Server


def start_workers(options: Options, env: dict[str, str], tmp: Path) -> list[Worker]:
    workers = []
    for index in range(options.workers):
        log = tmp / f"worker-{index}.log"
        command = [sys.executable, "-m", "herald", "worker", "--workers", str(options.threads)]
        with open(log, "wb") as output:
            process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        workers.append(Worker(process, command, "", log))
    return workers


# --- Data ---------------------------------------------------------------------------------------


def newsletter_template() -> dict[str, Any]:
    from bench.render import template_mjml

    return {
        "name": "Winter sale",
        "kind": "marketing",
        "subject": "{{ profile.first_name }}, winter sale in {{ profile.city }}",
        "preheader": "Double points for {{ profile.loyalty_tier }} members",
        "body_format": "mjml",
        # The same newsletter as bench/render.py, padded the same way to about 40 KB.
        "body": template_mjml(_padding_paragraphs()),
    }


def _padding_paragraphs() -> int:
    from bench.render import TARGET_BYTES, template_mjml
    from herald.templates.rendering import compile_body

    base = len(compile_body("mjml", template_mjml(0)).encode())
    per_paragraph = len(compile_body("mjml", template_mjml(1)).encode()) - base
    return max(0, round((TARGET_BYTES - base) / per_paragraph))


def plain_template() -> dict[str, Any]:
    return {
        "name": "Note",
        "kind": "marketing",
        "subject": "News for {{ profile.first_name }}",
        "preheader": None,
        "body_format": "html",
        "body": (
            "<html><body><p>Hi {{ profile.first_name }},</p><p>Our winter sale starts today in "
            '{{ profile.city }}. <a href="https://shop.example.com/sale">See the offers</a>.</p>'
            '<p>{{ organization.name }}, {{ organization.postal_address }} · <a href="'
            '{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
        ),
    }


def profile_rows(org_id: uuid.UUID, start: int, stop: int) -> io.StringIO:
    """COPY text rows for profiles `start..stop`: an address, names, a city, two properties."""
    from herald.db import new_id

    out = io.StringIO()
    stamp = "2026-01-01 00:00:00+00"
    for index in range(start, stop):
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        city, country = CITIES[index % len(CITIES)]
        properties = (
            f'{{"loyalty_tier": "{("gold", "silver", "bronze")[index % 3]}", '
            f'"points": {index % 5000}}}'
        )
        out.write(
            f"{new_id()}\t{org_id}\t{recipient_address(index)}\t{first}\tTester{index}\t{city}\t"
            f"{country}\t{properties}\t{stamp}\t{stamp}\n"
        )
    out.seek(0)
    return out


def recipient_address(index: int) -> str:
    return f"r{index}@inbox.bench.example"


def load_profiles(database_url: str, org_id: uuid.UUID, count: int, progress: Progress) -> None:
    task = progress.add_task("profiles (COPY)", total=count)
    columns = "id, org_id, email, first_name, last_name, city, country, properties, created_at, "
    columns += "updated_at"
    with psycopg.connect(database_url) as connection:
        for start in range(0, count, COPY_CHUNK):
            stop = min(count, start + COPY_CHUNK)
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY profiles ({columns}) FROM STDIN") as copy,
            ):
                copy.write(profile_rows(org_id, start, stop).getvalue())
            progress.update(task, completed=stop)
        connection.execute("ANALYZE profiles")


@dataclass
class Setup:
    org_id: uuid.UUID
    campaign_id: uuid.UUID
    template_id: uuid.UUID
    audience: int
    timings: dict[str, float] = field(default_factory=dict)


def set_up(options: Options, database_url: str, sink_port: int, progress: Progress) -> Setup:
    """The organization, its sending settings, profiles, segment, template and a draft campaign,
    through Herald's services (the segment computed in this process)."""
    from herald.campaigns import service as campaigns
    from herald.db import get_database
    from herald.email import configuration, schemas
    from herald.segments import service as segments
    from herald.templates import service as templates
    from herald.tenancy import service as tenancy

    database = get_database()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with database.transaction() as session:
        organization, _owner = tenancy.create_organization(
            session, "Bench Outdoor", "owner@shop.bench.example", secrets.token_urlsafe(16)
        )
        org_id = organization.id
        dkim_key = _dkim_key() if options.dkim else None
        configuration.update(
            session,
            org_id,
            schemas.EmailSettingsUpdate(
                provider="smtp",
                smtp=schemas.SmtpSettingsUpdate(
                    host="127.0.0.1", port=sink_port, security="none", timeout=30
                ),
                default_from_email=FROM_EMAIL,
                default_from_name="Bench Outdoor",
                postal_address="1 Harbour Street, Portsmouth PO1 2AB",
                dkim_domain="shop.bench.example" if dkim_key else None,
                dkim_selector="bench" if dkim_key else None,
                dkim_private_key=dkim_key,
            ),
        )
        fields = newsletter_template() if options.template == "newsletter" else plain_template()
        template = templates.create_template(session, org_id, fields)
        template_id = template.id
    timings["organization, settings, template"] = time.perf_counter() - started

    started = time.perf_counter()
    load_profiles(database.url.replace("+psycopg", ""), org_id, options.recipients, progress)
    timings["profiles (COPY)"] = time.perf_counter() - started

    started = time.perf_counter()
    # The recompute job runs in this process when the transaction commits (immediate queue).
    with database.transaction() as session:
        segment = segments.create_segment(
            session,
            org_id,
            name="Everyone with an address",
            description=None,
            definition={
                "conditions": [{"type": "profile", "field": "email", "operator": "is_set"}]
            },
        )
        segment_id = segment.id
    with database.transaction() as session:
        members = segments.get_segment(session, org_id, segment_id).member_count
        campaign = campaigns.create_campaign(
            session,
            org_id,
            {
                "name": "Winter sale",
                "template_id": template_id,
                "include_segment_ids": [segment_id],
                "smart_sending": False,
            },
        )
        campaign_id = campaign.id
    timings["segment (computed)"] = time.perf_counter() - started
    if members != options.recipients:
        raise RuntimeError(f"the segment has {members} members, expected {options.recipients}")
    return Setup(org_id, campaign_id, template_id, int(members or 0), timings)


def _dkim_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def prerendered_message(setup: Setup) -> bytes:
    """One campaign message as Herald makes it (for the first profile), for the reference."""
    import sqlalchemy as sa

    from herald.db import get_database, new_id
    from herald.email import claiming
    from herald.models import Message, Profile

    database = get_database()
    with database.transaction() as session:
        profile = session.scalars(
            sa.select(Profile).where(Profile.org_id == setup.org_id).limit(1)
        ).one()
        message = Message(
            id=new_id(),
            org_id=setup.org_id,
            profile_id=profile.id,
            source="transactional",
            marketing=True,
            idempotency_key=f"bench-reference-{uuid.uuid4()}",
            template_id=setup.template_id,
            to_address=profile.email or "",
            content={"data": {}},
            status="sending",
            attempts=1,
        )
        session.add(message)
        session.flush()
        prepared = claiming._Preparer(session, [message]).prepare(message, 1)
        session.rollback()
    return prepared.email.mime


# --- The reference: pre-rendered messages straight to the sink ------------------------------------


def _reference_client(port: int, message: bytes, addresses: range, ready: Any) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo()
        ready.wait()
        for index in addresses:
            client.sendmail(FROM_EMAIL, [f"ref{index}@inbox.bench.example"], message)


@dataclass
class Measured:
    name: str
    messages: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0
    machine_total: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    activity: Counter[str] = field(default_factory=Counter)
    activity_samples: int = 0
    sink: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


class CpuWatch:
    """CPU seconds of named process groups between `start()` and `stop()`, followed every 0.5 s
    (processes that appear on the way, such as new PostgreSQL backends, count from when they are
    first seen), and pg_stat_activity samples."""

    def __init__(self, groups: dict[str, Any], database: ScratchDatabase) -> None:
        self.groups = groups  # name -> callable returning pids
        self.database = database
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.activity: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-watch", daemon=True)

    def _sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                seconds = procstat.cpu_seconds(pid)
                if seconds is None:
                    continue
                self.first.setdefault((name, pid), seconds)
                self.last[(name, pid)] = seconds

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                self._sample()
                self.activity.update(self.database.activity())
                self.samples += 1

    def start(self) -> None:
        self.machine = procstat.machine_cpu()
        self._sample()
        self._thread.start()

    def stop(self, measured: Measured) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._sample()
        busy, total = procstat.machine_cpu()
        measured.machine_busy = busy - self.machine[0]
        measured.machine_total = total - self.machine[1]
        for (name, pid), seconds in self.last.items():
            used = seconds - self.first[(name, pid)]
            measured.cpu[name] = measured.cpu.get(name, 0.0) + used
        measured.activity = self.activity
        measured.activity_samples = self.samples


def pids_named(name: str) -> list[int]:
    """The processes whose command is `name` (from /proc/<pid>/comm)."""
    found = []
    for entry in procstat.PROC.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def run_reference(
    options: Options, sink: smtpsink.SinkProcess, message: bytes, progress: Progress
) -> Measured:
    count = options.reference
    connections = options.reference_connections
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    share = -(-count // connections)
    clients = [
        context.Process(
            target=_reference_client,
            args=(sink.port, message, range(i * share, min(count, (i + 1) * share)), ready),
            daemon=True,
        )
        for i in range(connections)
    ]
    for client in clients:
        client.start()
    task = progress.add_task("reference (pre-rendered)", total=count)
    measured = Measured("reference", count, 0.0, load_before=os.getloadavg()[0])
    time.sleep(0.5)  # the clients connect
    sink_pid = smtpsink.sink_pid(sink)
    client_pids = [c.pid for c in clients if c.pid is not None]
    watch = CpuWatch(
        {"smtplib clients": lambda: client_pids, "sink": lambda: [sink_pid]},
        _NoDatabase(),  # type: ignore[arg-type]
    )
    watch.start()
    started = time.perf_counter()
    ready.set()
    while sink.received < count:
        progress.update(task, completed=sink.received)
        if not any(c.is_alive() for c in clients) and sink.received < count:
            time.sleep(0.5)
            if sink.received < count:
                raise RuntimeError(f"the reference clients stopped at {sink.received} messages")
        time.sleep(0.02)
    measured.seconds = time.perf_counter() - started
    progress.update(task, completed=count)
    watch.stop(measured)
    for client in clients:
        client.join(timeout=30)
    measured.load_after = os.getloadavg()[0]
    measured.sink = sink.take()
    return measured


class _NoDatabase:
    def activity(self) -> list[str]:
        return []


# --- The end-to-end run ---------------------------------------------------------------------------


def send_campaign(
    options: Options,
    setup: Setup,
    sink: smtpsink.SinkProcess,
    workers: list[Worker],
    scratch: ScratchDatabase,
    progress: Progress,
) -> tuple[Measured, dict[str, float]]:
    import sqlalchemy as sa

    from herald.campaigns import lifecycle
    from herald.db import get_database
    from herald.models import Campaign

    database = get_database()
    count = setup.audience
    sink_pid = smtpsink.sink_pid(sink)
    worker_pids = [w.process.pid for w in workers]
    redis, postgres_pids = pids_named("redis-server"), pids_named("postgres")
    watch = CpuWatch(
        {
            # A worker's threads are in its own process: no children to follow.
            "herald workers": lambda: worker_pids,
            "postgresql backends": scratch.backend_pids,
            "postgresql, other processes": lambda: sorted(
                set(postgres_pids) - set(scratch.backend_pids())
            ),
            "redis": lambda: redis,
            "sink": lambda: [sink_pid],
            "this benchmark": lambda: [os.getpid()],
        },
        scratch,
    )
    recorders = start_profilers(options, workers)
    task = progress.add_task("campaign (end to end)", total=count)
    measured = Measured("end to end", count, 0.0, load_before=os.getloadavg()[0])
    marks: dict[str, float] = {}
    watch.start()
    started = time.perf_counter()
    with database.transaction() as session:
        lifecycle.send_now(session, setup.org_id, setup.campaign_id)
    marks["send now committed"] = time.perf_counter() - started
    status = "sending"
    next_look = 0.0
    while True:
        now = time.perf_counter()
        received = sink.received
        progress.update(task, completed=received)
        if received and "first message at the sink" not in marks:
            marks["first message at the sink"] = now - started
        if received >= count and "last message at the sink" not in marks:
            marks["last message at the sink"] = now - started
        if now >= next_look:
            with database.transaction() as session:
                status, audience_at = session.execute(
                    sa.select(Campaign.status, Campaign.audience_at).where(
                        Campaign.id == setup.campaign_id
                    )
                ).one()
            if audience_at is not None and "audience snapshot complete" not in marks:
                marks["audience snapshot complete"] = now - started
            next_look = now + 0.1
            if status == "sent" and received >= count:
                marks["campaign sent"] = now - started
                break
            if status not in ("sending", "sent"):
                raise RuntimeError(f"the campaign is {status}")
        for worker in workers:
            if worker.process.poll() is not None:
                raise RuntimeError(f"a worker exited:\n{worker.log_tail()}")
        if now - started > options.time_limit:
            raise RuntimeError(
                f"time limit: {received:,} of {count:,} messages after {options.time_limit:.0f} s"
            )
        time.sleep(0.02)
    measured.seconds = time.perf_counter() - started
    progress.update(task, completed=count)
    watch.stop(measured)
    measured.load_after = os.getloadavg()[0]
    stop_profilers(recorders)
    time.sleep(0.2)  # a duplicate on its way would still arrive
    measured.sink = sink.take()
    return measured, marks


def start_profilers(options: Options, workers: list[Worker]) -> list[pyspy.Recorder]:
    if options.py_spy is None:
        return []
    executable = pyspy.py_spy_path()
    if executable is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    options.py_spy.mkdir(parents=True, exist_ok=True)
    recorders = [
        pyspy.Recorder(executable, worker.process.pid, options.py_spy / f"worker-{index}.txt")
        for index, worker in enumerate(workers)
    ]
    time.sleep(1)  # let py-spy attach
    return recorders


def stop_profilers(recorders: list[pyspy.Recorder]) -> None:
    for recorder in recorders:
        recorder.stop()


# --- Checks -------------------------------------------------------------------------------------


def verify(setup: Setup, measured: Measured) -> list[tuple[str, bool, str]]:
    """Exactly once, from the sink's side and from the ledger's."""
    import sqlalchemy as sa

    from herald.db import get_database
    from herald.models import (
        Campaign,
        CampaignRecipient,
        Message,
        MessageEvent,
        Profile,
    )

    count = setup.audience
    sink = measured.sink
    checks: list[tuple[str, bool, str]] = []
    with get_database().transaction() as session:
        emails = list(
            session.scalars(sa.select(Profile.email).where(Profile.org_id == setup.org_id))
        )
        campaign_messages = sa.select(Message.id).where(
            Message.org_id == setup.org_id,
            Message.source == "campaign",
            Message.source_id == setup.campaign_id,
        )
        message_ids = [str(m) for m in session.scalars(campaign_messages)]
        statuses = dict(
            session.execute(
                sa.select(Message.status, sa.func.count())
                .where(Message.id.in_(campaign_messages))
                .group_by(Message.status)
            ).all()
        )
        sent_events, distinct_sent = session.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(MessageEvent.message_id))).where(
                MessageEvent.message_id.in_(campaign_messages), MessageEvent.kind == "sent"
            )
        ).one()
        recipient_statuses = dict(
            session.execute(
                sa.select(CampaignRecipient.status, sa.func.count())
                .where(CampaignRecipient.campaign_id == setup.campaign_id)
                .group_by(CampaignRecipient.status)
            ).all()
        )
        distinct_profiles = session.scalar(
            sa.select(sa.func.count(sa.distinct(Message.profile_id))).where(
                Message.id.in_(campaign_messages)
            )
        )
        campaign = session.get(Campaign, setup.campaign_id)
        assert campaign is not None
        last_sent = session.scalar(
            sa.select(sa.func.max(Message.sent_at)).where(Message.id.in_(campaign_messages))
        )
    expected_digest = smtpsink.digest(e.lower() for e in emails if e)
    checks.append(
        (
            "sink: every recipient exactly once",
            sink["messages"] == count
            and sink["distinct_recipients"] == count
            and sink["duplicate_recipients"] == 0
            and sink["recipient_digest"] == expected_digest,
            f"{sink['messages']:,} messages, {sink['distinct_recipients']:,} distinct recipients, "
            f"{sink['duplicate_recipients']} received twice or more"
            + (f" {sink['duplicates_shown']}" if sink["duplicates_shown"] else "")
            + (", same set as the audience" if sink["recipient_digest"] == expected_digest else ""),
        )
    )
    checks.append(
        (
            "sink: each Herald message id once",
            sink["distinct_herald_ids"] == count
            and sink["duplicate_herald_ids"] == 0
            and sink["herald_id_digest"] == smtpsink.digest(message_ids),
            f"{sink['distinct_herald_ids']:,} distinct X-Herald-Message-Id, "
            f"{sink['duplicate_herald_ids']} repeated, "
            + (
                "the ledger's ids"
                if sink["herald_id_digest"] == smtpsink.digest(message_ids)
                else "NOT the ledger's ids"
            ),
        )
    )
    detail = f"{len(message_ids):,} messages for {distinct_profiles:,} profiles"
    checks.append(
        (
            "ledger: one message per recipient, all sent",
            len(message_ids) == count
            and statuses == {"sent": count}
            and distinct_profiles == count,
            f"{detail}, statuses {statuses}",
        )
    )
    checks.append(
        (
            "ledger: one sent event per message",
            sent_events == count and distinct_sent == count,
            f"{sent_events:,} sent events over {distinct_sent:,} messages",
        )
    )
    checks.append(
        (
            "recipients: all sent; campaign sent after the last message",
            recipient_statuses == {"sent": count}
            and campaign.status == "sent"
            and campaign.finished_at is not None
            and last_sent is not None
            and last_sent <= campaign.finished_at,
            f"recipient statuses {recipient_statuses}, campaign {campaign.status}",
        )
    )
    return checks


# --- Report -------------------------------------------------------------------------------------


def report(
    options: Options,
    setup: Setup,
    reference: Measured | None,
    end_to_end: Measured,
    marks: dict[str, float],
    checks: list[tuple[str, bool, str]],
    message_bytes: int,
) -> None:
    console.print()
    table = Table(title="Throughput", title_justify="left")
    for column in ("phase", "messages", "seconds", "messages/s", "load avg (before → after)"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    rows = [end_to_end] + ([reference] if reference is not None else [])
    for row in rows:
        table.add_row(
            row.name,
            f"{row.messages:,}",
            f"{row.seconds:.1f}",
            f"{row.rate:,.0f}",
            f"{row.load_before:.2f} → {row.load_after:.2f}",
        )
    console.print(table)
    console.print(
        f"message size: {message_bytes:,} bytes (reference); end to end "
        f"{end_to_end.sink.get('bytes', 0) / max(1, end_to_end.messages):,.0f} bytes on average"
    )
    if reference is not None:
        console.print(
            "[bold]ratio end to end / sink reference: "
            f"{end_to_end.rate / reference.rate:.2f}[/bold] "
            f"({reference.rate / end_to_end.rate:.1f}x slower than the sink takes them)"
        )
    verdict = "meets" if end_to_end.rate >= TARGET_RATE else "MISSES"
    console.print(
        f"[bold]end to end: {end_to_end.rate:,.0f} messages/s {verdict} the target of "
        f"{TARGET_RATE:,}/s[/bold]"
    )
    console.print()
    table = Table(title="End-to-end timeline (seconds after send now)", title_justify="left")
    table.add_column("mark")
    table.add_column("s", justify="right")
    for name, at in sorted(marks.items(), key=lambda item: item[1]):
        table.add_row(name, f"{at:.2f}")
    console.print(table)

    for row in rows:
        table = Table(title=f"CPU seconds, {row.name}", title_justify="left")
        table.add_column("processes")
        table.add_column("CPU s", justify="right")
        table.add_column("ms/message", justify="right")
        table.add_column("cores busy", justify="right")
        for name, seconds in sorted(row.cpu.items(), key=lambda item: -item[1]):
            table.add_row(
                name,
                f"{seconds:.1f}",
                f"{seconds / row.messages * 1000:.3f}",
                f"{seconds / row.seconds:.2f}",
            )
        table.add_row(
            "whole machine",
            f"{row.machine_busy:.1f}",
            f"{row.machine_busy / row.messages * 1000:.3f}",
            f"{row.machine_busy / row.seconds:.2f} of {row.machine_total / row.seconds:.0f}",
        )
        console.print(table)
    if end_to_end.activity_samples:
        table = Table(
            title=f"PostgreSQL sessions not idle ({end_to_end.activity_samples} samples)",
            title_justify="left",
        )
        table.add_column("state / wait (statement)")
        table.add_column("avg sessions", justify="right")
        for state, seen in end_to_end.activity.most_common(12):
            table.add_row(state, f"{seen / end_to_end.activity_samples:.2f}")
        console.print(table)
    console.print()
    for name, ok, detail in checks:
        mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
        console.print(f"{mark} {name}: {detail}")


def report_profile(options: Options) -> None:
    if options.py_spy is None:
        return
    merged = options.py_spy / "workers.txt"
    with open(merged, "w") as out:
        for path in sorted(options.py_spy.glob("worker-*.txt")):
            out.write(path.read_text(errors="replace"))
    summary = pyspy.summarize(merged, top=30)
    if not summary.samples:
        console.print("[yellow]py-spy recorded nothing[/yellow]")
        return
    console.print(f"\n[bold]py-spy, workers[/bold]: {summary.samples:,} samples (GIL holders)")
    for title, rows in (
        ("by package (self time)", summary.packages[:14]),
        ("by function, inclusive", summary.inclusive),
        ("Herald lines, inclusive", summary.lines),
        ("by function, self", summary.own[:20]),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column("where")
        table.add_column("%", justify="right")
        for name, seen in rows:
            table.add_row(name, f"{seen / summary.samples:.1%}")
        console.print(table)


# --- Main ---------------------------------------------------------------------------------------


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-campaign-"))
    scratch = ScratchDatabase(options.postgres_url)
    sink: smtpsink.SinkProcess | None = None
    fake: campaign_providers.FakeProcess | None = None
    second_fake: campaign_providers.FakeProcess | None = None
    workers: list[Worker] = []
    status = 1
    console.print(
        f"[bold]Herald campaign benchmark[/bold]: {options.recipients:,} recipients, "
        f"{options.workers} worker processes x {options.threads} threads, template "
        f"{options.template}{' + DKIM' if options.dkim else ''}, {options.sink} sink, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    try:
        # The sink forks before anything else runs threads.
        sink = smtpsink.start_sink(options.sink)
        if options.provider:
            fake = campaign_providers.start_fake(options.provider)
            if options.failover:
                second_fake = campaign_providers.start_fake(
                    campaign_providers.SECONDARY[options.provider]
                )
        scratch.create()
        console.print(f"[bold]Database[/bold]  {scratch.describe()}")
        console.print(f"[bold]Queue[/bold]     {options.redis_url}")
        console.print(f"[bold]Sink[/bold]      {options.sink} on 127.0.0.1:{sink.port}")
        secret = secrets.token_urlsafe(48)
        env = herald_env(options, scratch.url, tmp / "data", secret)
        started = time.perf_counter()
        ingest.herald_cli(["migrate"], env)
        console.print(f"[bold]Migrated[/bold]  in {time.perf_counter() - started:.1f} s")
        # This process is Herald too (services, in-process), configured as the workers are.
        os.environ.update(env)
        from herald.db import configure_database
        from herald.worker import configure_queue, huey, import_task_modules

        configure_database(scratch.url)
        import_task_modules()
        configure_queue(redis_url=options.redis_url, data_dir=tmp / "data", immediate=True)
        huey.flush()
        with ingest.new_progress() as progress:
            setup = set_up(options, scratch.url, sink.port, progress)
        for name, seconds in setup.timings.items():
            console.print(f"[bold]Set up[/bold]    {name}: {seconds:.1f} s")
        message = prerendered_message(setup)
        reference: Measured | None = None
        with ingest.new_progress() as progress:
            if not options.skip_reference:
                reference = run_reference(options, sink, message, progress)
            # Kicks from now on go to Redis, where the workers take them.
            configure_queue(redis_url=options.redis_url, data_dir=tmp / "data")
            before = len(scratch.backend_pids())
            workers = start_workers(options, env, tmp)
            deadline = time.monotonic() + 60
            # Each worker's pumps connect within a second of starting.
            while len(scratch.backend_pids()) < before + options.workers:
                for worker in workers:
                    if worker.process.poll() is not None:
                        raise RuntimeError(f"a worker exited at start:\n{worker.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start")
                time.sleep(0.2)
            time.sleep(1.0)
            end_to_end, marks = send_campaign(options, setup, sink, workers, scratch, progress)
        checks = verify(setup, end_to_end)
        provider_run = None
        if fake is not None:
            second = campaign_providers.switch_to_provider(setup.org_id, setup.template_id, fake)
            provider_run = campaign_providers.send_through(
                setup.org_id, second, setup.audience, fake, options.time_limit
            )
        failover_run = None
        if fake is not None and second_fake is not None:
            failover_run = campaign_providers.failover_run(
                setup.org_id,
                setup.template_id,
                fake,
                second_fake,
                setup.audience,
                options.time_limit,
            )
        for worker in workers:
            worker.stop()
        report(options, setup, reference, end_to_end, marks, checks, len(message))
        if provider_run is not None:
            checks.append(
                (
                    f"{provider_run.kind}: exactly once",
                    campaign_providers.report(console, provider_run, end_to_end.rate, TARGET_RATE),
                    "",
                )
            )
        if failover_run is not None:
            ok = campaign_providers.report_failover(console, failover_run)
            checks.append(("failover: exactly once", ok, ""))
        report_profile(options)
        status = 0 if all(ok for _name, ok, _detail in checks) else 1
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; cleaning up.[/yellow]")
        status = 130
    except Exception:
        console.print_exception(max_frames=8)
        for worker in workers:
            console.print(f"[dim]worker log tail:\n{worker.log_tail()}[/dim]")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for worker in workers:
            worker.stop()
        if sink is not None:
            sink.stop()
        for running in (fake, second_fake):
            if running is not None:
                running.stop()
        with contextlib.suppress(Exception):
            from herald.worker import huey

            huey.flush()
        if options.keep:
            scratch.close()
            console.print(f"[yellow]Kept {scratch.url} and {tmp}[/yellow]")
        else:
            try:
                scratch.drop()
            except Exception as exc:
                console.print(f"[red]Could not drop the scratch database: {exc}[/red]")
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
