"""Flow benchmark: events into a flow trigger -> trigger split -> email, through `herald worker`
processes and the SMTP provider into a local sink; then a million enrolments on a delay.

One run, on PostgreSQL and Redis, in a scratch database (`herald_bench_flows_<random>`):

  1. sets up an organization whose email goes over SMTP to bench/smtpsink.py's sink, a plain
     marketing template, `--profiles` profiles (COPY) and a live flow: `Started Checkout` ->
     trigger split (cart value over 50) -> an email on either branch (smart sending off);
  2. reference: the sink's own accept rate for one pre-rendered Herald message, sent as fast as
     smtplib goes (bench/campaign.py's reference);
  3. steady: `--steady` events at `--rate` a second, stored through the ingestion service (the
     same hand-off as the API: events, then the change processor), each profile's own
     `Started Checkout`; waits for every email. Trigger-to-provider latency per email is the
     message's `sent_at` (the SMTP server accepted it) minus the event's time: p50, p95, p99;
  4. burst: `--burst` more events stored as fast as this process can; emails/s from the first
     of them to the last email in the sink;
  5. checks exactly-once: one message per event, the sink got each Herald message id once;
  6. waiting: `--waiting` enrolments (COPY) standing on a delay that ends `--wait` seconds
     later (delay -> random split -> end, two steps each when due): the workers' CPU and memory
     while they wait, then non-sending steps/s once they fall due.

Targets (issue 14): >= 1,000 flow emails/s end to end; >= 5,000 non-sending steps/s; p95
trigger-to-provider <= 5 s at 500 events/s.

    .venv/bin/python bench/flows.py                                   # the issue's sizes
    .venv/bin/python bench/flows.py --profiles 5000 --steady 2000 --burst 3000 --waiting 20000
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

if __package__ in (None, ""):  # run as `python bench/flows.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import campaign, procstat, smtpsink
from bench.campaign import ScratchDatabase

console = campaign.console
PRODUCER_TICK = 0.05


@dataclass
class Options:
    profiles: int
    rate: int
    steady: int
    burst: int
    waiting: int
    wait: float
    workers: int
    threads: int
    reference: int
    reference_connections: int
    postgres_url: str
    redis_url: str
    log_level: str
    keep: bool
    time_limit: float
    # Flows send over SMTP to the sink; campaign.herald_env reads this to keep production mode.
    provider: str | None = None
    py_spy: Path | None = None


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=500, help="events/s in the steady phase")
    parser.add_argument("--steady", type=int, default=30_000, help="events at --rate")
    parser.add_argument("--burst", type=int, default=70_000, help="events as fast as possible")
    parser.add_argument("--waiting", type=int, default=1_000_000, help="enrolments on a delay")
    parser.add_argument("--wait", type=float, default=60, help="seconds until they fall due")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--reference-connections", type=int, default=2)
    parser.add_argument("--postgres-url", default=campaign.ADMIN_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--keep-database", dest="keep", action="store_true")
    parser.add_argument("--time-limit", type=float, default=1800)
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="record the workers during the burst into DIR"
    )
    a = parser.parse_args(argv)
    return Options(
        a.profiles, a.rate, a.steady, a.burst, a.waiting, a.wait, a.workers, a.threads,
        a.reference, a.reference_connections, a.postgres_url, a.redis_url, a.log_level,
        a.keep, a.time_limit, py_spy=a.py_spy,
    )  # fmt: skip


# --- Setup ----------------------------------------------------------------------------------------


@dataclass
class Setup:
    org_id: uuid.UUID
    template_id: uuid.UUID
    flow_id: uuid.UUID
    emails: list[str]


def set_up(options: Options, database_url: str, sink_port: int) -> Setup:
    from herald.db import get_database
    from herald.email import configuration, schemas
    from herald.flows import enrolments
    from herald.flows.definition import parse_definition
    from herald.models import Flow
    from herald.templates import service as templates
    from herald.tenancy import service as tenancy

    database = get_database()
    with database.transaction() as session:
        organization, _ = tenancy.create_organization(
            session, "Bench Shop", "owner@shop.bench.example", uuid.uuid4().hex
        )
        org_id = organization.id
        configuration.update(
            session,
            org_id,
            schemas.EmailSettingsUpdate(
                provider="smtp",
                smtp=schemas.SmtpSettingsUpdate(
                    host="127.0.0.1", port=sink_port, security="none", timeout=30
                ),
                default_from_email=campaign.FROM_EMAIL,
                default_from_name="Bench Shop",
                postal_address="1 Harbour Street, Portsmouth PO1 2AB",
            ),
        )
        template_id = templates.create_template(session, org_id, campaign.plain_template()).id
    with Progressless() as progress:
        campaign.load_profiles(database_url, org_id, options.profiles, progress)  # type: ignore[arg-type]
    email = {"template_id": str(template_id), "smart_sending": False}
    definition = parse_definition(
        {
            "trigger": {"type": "metric", "metric": "Started Checkout"},
            "start": "split",
            "steps": [
                {
                    "id": "split",
                    "type": "trigger_split",
                    "filters": [{"property": "cart", "operator": "greater_than", "value": 50}],
                    "outputs": {"yes": "big", "no": "small"},
                },
                {"id": "big", "type": "send_email", "email": email, "outputs": {"next": None}},
                {"id": "small", "type": "send_email", "email": email, "outputs": {"next": None}},
            ],
        }
    )
    with database.transaction() as session:
        flow = Flow(
            org_id=org_id, name="Abandoned cart", trigger_type="metric",
            definition={}, layout={},
        )  # fmt: skip
        session.add(flow)
        session.flush()
        enrolments.publish(session, org_id, flow.id, definition)
        flow_id = flow.id
    emails = [campaign.recipient_address(i) for i in range(options.profiles)]
    return Setup(org_id, template_id, flow_id, emails)


class Progressless:
    """What load_profiles needs of a rich Progress, printing nothing."""

    def __enter__(self) -> Progressless:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def add_task(self, *_: Any, **__: Any) -> int:
        return 0

    def update(self, *_: Any, **__: Any) -> None:
        pass


# --- Producing events -----------------------------------------------------------------------------


def produce(setup: Setup, first: int, count: int, rate: float | None) -> float:
    """Store `count` Started Checkout events (profiles first.. in turn), at `rate` a second or as
    fast as possible; returns when the first was stored (monotonic)."""
    from herald.db import get_database, utcnow
    from herald.events import batch, schemas, service

    database = get_database()
    per_tick = max(1, int(rate * PRODUCER_TICK)) if rate else 500
    started = time.monotonic()
    done = 0
    while done < count:
        size = min(per_tick, count - done)
        now = utcnow()
        items = [
            batch.event_input(
                schemas.TrackEvent(
                    event="Started Checkout",
                    profile={"email": setup.emails[(first + done + i) % len(setup.emails)]},
                    properties={"cart": (first + done + i) % 100},
                    time=now,
                )
            )
            for i in range(size)
        ]
        with database.transaction() as session:
            service.ingest(session, setup.org_id, items)
        done += size
        if rate:
            ahead = started + done / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    return started


def wait_for_sink(sink: smtpsink.SinkProcess, count: int, limit: float) -> float:
    deadline = time.monotonic() + limit
    while sink.received < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sink has {sink.received} of {count} emails after {limit} s")
        time.sleep(0.02)
    return time.monotonic()


def latencies(database_url: str, flow_id: uuid.UUID) -> dict[str, float]:
    """Trigger-to-provider: each email's sent_at minus its trigger event's time."""
    query = """
        SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY
               extract(epoch FROM m.sent_at - (e.trigger->>'time')::timestamptz))
        FROM messages m
        JOIN flow_step_runs r ON r.message_id = m.id
        JOIN flow_enrolments e ON e.id = r.enrolment_id
        WHERE m.source_id = %s AND m.sent_at IS NOT NULL AND e.entered_at < %s
    """
    with psycopg.connect(database_url) as connection:
        cutoff = connection.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        row = connection.execute(query, (flow_id, cutoff)).fetchone()
    assert row is not None and row[0] is not None
    p50, p95, p99 = row[0]
    return {"p50": p50, "p95": p95, "p99": p99}


def exactly_once(database_url: str, flow_id: uuid.UUID, summary: dict[str, Any]) -> list[str]:
    """One enrolment, one message, one email at the sink per event. The sink can have an email
    a moment before the worker records it `sent`: the counts are read until they settle."""
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(database_url) as connection:
            enrolled, messages, sent = connection.execute(
                "SELECT (SELECT count(*) FROM flow_enrolments WHERE flow_id = %s),"
                " (SELECT count(*) FROM messages WHERE source_id = %s),"
                " (SELECT count(*) FROM messages WHERE source_id = %s AND status = 'sent')",
                (flow_id, flow_id, flow_id),
            ).fetchone()  # type: ignore[misc]
        if sent == messages or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    problems = []
    if not enrolled == messages == sent == summary["distinct_herald_ids"]:
        problems.append(
            f"enrolments {enrolled}, messages {messages}, sent {sent}, "
            f"distinct ids at the sink {summary['distinct_herald_ids']}"
        )
    if summary["duplicate_herald_ids"]:
        problems.append(f"{summary['duplicate_herald_ids']} message ids arrived twice")
    return problems


# --- The waiting million --------------------------------------------------------------------------


def load_waiting(options: Options, database_url: str, setup: Setup, due: Any) -> uuid.UUID:
    """A flow (delay -> random split -> end) with `--waiting` enrolments on its delay, all due
    at `due`, written with COPY as the engine leaves them (attempts 1: the delay started)."""
    from herald.db import get_database, new_ids
    from herald.flows import enrolments
    from herald.flows.definition import parse_definition
    from herald.models import Flow

    definition = parse_definition(
        {
            "trigger": {"type": "api"},
            "start": "wait",
            "steps": [
                {"id": "wait", "type": "delay", "delay": {"amount": 1, "unit": "hours"},
                 "outputs": {"next": "ab"}},
                {"id": "ab", "type": "random_split",
                 "branches": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
                 "outputs": {"a": None, "b": None}},
            ],
        }
    )  # fmt: skip
    with get_database().transaction() as session:
        flow = Flow(
            org_id=setup.org_id, name="Waiting", trigger_type="api", definition={}, layout={}
        )
        session.add(flow)
        session.flush()
        enrolments.publish(session, setup.org_id, flow.id, definition)
        flow_id = flow.id
    with psycopg.connect(database_url) as connection:
        profile_ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM profiles WHERE org_id = %s", (setup.org_id,)
            )
        ]
        columns = (
            "id, org_id, flow_id, version, profile_id, trigger_key, trigger, status, "
            "current_step, due_at, attempts, entered_at, updated_at"
        )
        stamp = due.isoformat()
        for start in range(0, options.waiting, 50_000):
            stop = min(options.waiting, start + 50_000)
            out = io.StringIO()
            for index, enrolment_id in zip(range(start, stop), new_ids(stop - start), strict=True):
                out.write(
                    f"{enrolment_id}\t{setup.org_id}\t{flow_id}\t1\t"
                    f"{profile_ids[index % len(profile_ids)]}\tbench:{index}\t{{}}\tactive\t"
                    f"wait\t{stamp}\t1\t{stamp}\t{stamp}\n"
                )
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY flow_enrolments ({columns}) FROM STDIN") as copy,
            ):
                copy.write(out.getvalue())
        connection.execute("ANALYZE flow_enrolments")
    return flow_id


def open_count(database_url: str, flow_id: uuid.UUID) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM flow_enrolments WHERE flow_id = %s AND status = 'active'",
            (flow_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def cpu_of(pids: list[int]) -> float:
    return sum(s for pid in pids if (s := procstat.cpu_seconds(pid)) is not None)


def rss_mb(pids: list[int]) -> float:
    return sum(kb for pid in pids if (kb := procstat.rss_kb(pid)) is not None) / 1024


class BurstCpu:
    """CPU seconds spent by each part of the pipeline from now until `spent()`: the workers, this
    process (it stores the events, as the API would) and the database's server processes. CPU
    time, unlike emails/s, hardly changes with other load on the machine, so a run on a busy
    machine still tells what a change saves; 2 cores ÷ the total is the rate a quiet 2-core
    machine can reach."""

    def __init__(self, workers: list[campaign.Worker], scratch: ScratchDatabase) -> None:
        self.worker_pids = [p for w in workers for p in procstat.process_tree(w.process.pid)]
        self.scratch = scratch
        self.before = self._now()

    def _now(self) -> dict[str, dict[int, float]]:
        backends = self.scratch.backend_pids()
        return {
            "workers": procstat.cpu_of(self.worker_pids),
            "producer": procstat.cpu_of([os.getpid()]),
            "postgresql": procstat.cpu_of(backends),
        }

    def spent(self) -> dict[str, float]:
        after = self._now()
        spent = {
            # A server process that started during the burst counts from zero.
            part: sum(seconds - self.before[part].get(pid, 0.0) for pid, seconds in now.items())
            for part, now in after.items()
        }
        spent["total"] = sum(spent.values())
        return spent


# --- Main -----------------------------------------------------------------------------------------


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from datetime import timedelta

    from herald.db import configure_database, utcnow
    from herald.migrations import upgrade
    from herald.worker import configure_queue

    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    scratch = ScratchDatabase(options.postgres_url)
    scratch.name = scratch.name.replace("campaign", "flows")
    scratch.url = scratch.herald_url = f"{options.postgres_url.rpartition('/')[0]}/{scratch.name}"
    scratch.create()
    tmp = Path(tempfile.mkdtemp(prefix="herald-bench-flows-"))
    sink = smtpsink.start_sink()
    workers: list[campaign.Worker] = []
    secret = uuid.uuid4().hex * 2
    env = campaign.herald_env(options, scratch.url, tmp, secret)  # type: ignore[arg-type]
    os.environ.update({k: v for k, v in env.items() if k.startswith("HERALD_")})
    plain_url = scratch.url
    results: dict[str, Any] = {}
    try:
        upgrade(plain_url)
        configure_database(plain_url)
        configure_queue(redis_url=options.redis_url, data_dir=tmp, immediate=False)
        import redis

        redis.Redis.from_url(options.redis_url).flushdb()
        console.print(f"setting up {options.profiles:,} profiles and the flow …")
        setup = set_up(options, plain_url, sink.port)

        if options.reference:
            campaign_setup = campaign.Setup(setup.org_id, uuid.uuid4(), setup.template_id, 0)
            message = campaign.prerendered_message(campaign_setup)
            console.print(f"reference: {options.reference:,} pre-rendered messages …")
            reference = campaign.run_reference(options, sink, message, Progressless())  # type: ignore[arg-type]
            results["reference emails/s"] = reference.rate

        workers = campaign.start_workers(options, env, tmp)  # type: ignore[arg-type]
        time.sleep(3)  # the workers start their pumps
        console.print(f"steady: {options.steady:,} events at {options.rate}/s …")
        produce(setup, 0, options.steady, options.rate)
        wait_for_sink(sink, options.steady, options.time_limit)
        results["steady latency (s)"] = latencies(plain_url, setup.flow_id)
        steady = sink.take()

        console.print(f"burst: {options.burst:,} events as fast as possible …")
        recorders = campaign.start_profilers(options, workers)  # type: ignore[arg-type]
        cpu = BurstCpu(workers, scratch)
        burst_started = produce(setup, options.steady, options.burst, None)
        burst_done = wait_for_sink(sink, options.burst, options.time_limit)
        campaign.stop_profilers(recorders)
        burst = sink.take()
        results["burst emails/s"] = options.burst / (burst_done - burst_started)
        for part, seconds in cpu.spent().items():
            results[f"burst CPU ms per email: {part}"] = 1000 * seconds / options.burst
        summary = {
            "distinct_herald_ids": steady["distinct_herald_ids"] + burst["distinct_herald_ids"],
            "duplicate_herald_ids": steady["duplicate_herald_ids"] + burst["duplicate_herald_ids"],
        }
        results["exactly once"] = exactly_once(plain_url, setup.flow_id, summary) or "yes"

        if options.waiting:
            console.print(f"waiting: {options.waiting:,} enrolments on a delay …")
            due = utcnow() + timedelta(seconds=options.wait + options.waiting / 40_000)
            waiting_flow = load_waiting(options, plain_url, setup, due)
            worker_pids = [p for w in workers for p in procstat.process_tree(w.process.pid)]
            cpu_before, wall_before = cpu_of(worker_pids), time.monotonic()
            rss = [rss_mb(worker_pids)]
            while utcnow() < due - timedelta(seconds=1):
                time.sleep(1)
                rss.append(rss_mb(worker_pids))
            idle_cpu = (cpu_of(worker_pids) - cpu_before) / (time.monotonic() - wall_before)
            results["while waiting: worker CPU (cores)"] = idle_cpu
            results["while waiting: worker RSS (MB, max)"] = max(rss)
            while utcnow() < due:
                time.sleep(0.05)
            started = time.monotonic()
            deadline = started + options.time_limit
            while open_count(plain_url, waiting_flow) and time.monotonic() < deadline:
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            results["when due: non-sending steps/s"] = 2 * options.waiting / elapsed
    finally:
        for worker in workers:
            worker.stop()
        sink.stop()
        if not options.keep:
            scratch.drop()
    for name, value in results.items():
        console.print(f"{name}: {value}")
    campaign.report_profile(options)  # type: ignore[arg-type]
    if "reference emails/s" in results and "burst emails/s" in results:
        ratio = results["burst emails/s"] / results["reference emails/s"]
        console.print(f"flow emails/s ÷ the sink's own rate: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
