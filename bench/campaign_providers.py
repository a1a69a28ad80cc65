"""`bench/campaign.py --provider ses|sendgrid|postmark`: after the SMTP run (the reference,
same machine, same moment), the same audience gets a second campaign through an HTTP API
provider's fake (tests/fakes, in a process of its own on loopback), entered as the
organization's provider list. Reports messages/s, HTTP calls per message and the ratio to SMTP,
and checks that the fake took every recipient exactly once.

The fakes answer at once, so this measures Herald's side of an API provider (rendering, JSON or
MIME, the HTTP client, the failover router's bookkeeping), not a real provider's latency.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

KINDS = ("ses", "sendgrid", "postmark")
# The second provider of the failover run, by the first's kind.
SECONDARY = {"ses": "postmark", "sendgrid": "postmark", "postmark": "sendgrid"}


@dataclass
class FakeProcess:
    kind: str
    process: multiprocessing.Process
    url: str

    def stats(self) -> dict[str, Any]:
        from tests.fakes.http import STATS_PATH

        return dict(httpx.get(self.url + STATS_PATH, timeout=10).json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


def _serve(kind: str, pipe: Connection) -> None:
    from tests.fakes.postmark import FakePostmark
    from tests.fakes.sendgrid import FakeSendGrid
    from tests.fakes.ses import FakeSes

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the benchmark's handler
    fake = {"ses": FakeSes, "sendgrid": FakeSendGrid, "postmark": FakePostmark}[kind]()
    pipe.send(fake.url)
    fake.server.serve_forever()


def start_fake(kind: str) -> FakeProcess:
    """The fake in a process of its own (forked before this process starts threads)."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(kind, theirs), daemon=True
    )
    process.start()
    return FakeProcess(kind, process, ours.recv())


def provider_config(fake: FakeProcess) -> dict[str, Any]:
    from tests.fakes.postmark import SERVER_TOKEN
    from tests.fakes.sendgrid import API_KEY

    if fake.kind == "sendgrid":
        return {"api_key": API_KEY, "endpoint_url": fake.url}
    if fake.kind == "postmark":
        return {
            "server_token": SERVER_TOKEN,
            "endpoint_url": fake.url,
            "message_stream": "broadcast",
        }
    return {
        "region": "eu-west-1",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "bench",
        "endpoint_url": fake.url,
    }


def switch_to_provider(
    org_id: uuid.UUID, template_id: uuid.UUID, fake: FakeProcess, *, create_entry: bool = True
) -> uuid.UUID:
    """The fake added to the provider list, and another campaign to the same segment."""
    from herald.campaigns import service as campaigns
    from herald.db import get_database
    from herald.email import provider_list
    from herald.email.provider_schemas import ProviderCreate
    from herald.models import Campaign

    with get_database().transaction() as session:
        if create_entry:
            provider_list.create(
                session,
                org_id,
                ProviderCreate(
                    kind=fake.kind, label=f"{fake.kind} (fake)", config=provider_config(fake)
                ),  # type: ignore[arg-type]
            )
        first = (
            session.query(Campaign)
            .filter(Campaign.org_id == org_id)
            .order_by(Campaign.created_at)
            .first()
        )
        assert first is not None
        campaign = campaigns.create_campaign(
            session,
            org_id,
            {
                "name": f"Winter sale through {fake.kind}",
                "template_id": template_id,
                "include_segment_ids": [uuid.UUID(s) for s in first.include_segment_ids],
                "smart_sending": False,
            },
        )
        return campaign.id


@dataclass
class ProviderRun:
    kind: str
    messages: int
    seconds: float
    calls: int
    accepted: int
    distinct: int
    statuses: dict[str, int]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def send_through(
    org_id: uuid.UUID, campaign_id: uuid.UUID, count: int, fake: FakeProcess, limit: float
) -> ProviderRun:
    import sqlalchemy as sa

    from herald.campaigns import lifecycle
    from herald.db import get_database
    from herald.models import Campaign, Message

    database = get_database()
    before = fake.stats()
    started = time.perf_counter()
    with database.transaction() as session:
        lifecycle.send_now(session, org_id, campaign_id)
    while True:
        with database.transaction() as session:
            status = session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
        stats = fake.stats()
        if status == "sent" and stats["accepted"] - before["accepted"] >= count:
            break
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"time limit: {stats} after {limit:.0f} s (campaign {status})")
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    with database.transaction() as session:
        statuses = dict(
            session.execute(
                sa.select(Message.status, sa.func.count())
                .where(Message.source_id == campaign_id)
                .group_by(Message.status)
            ).all()
        )
    after = fake.stats()
    return ProviderRun(
        kind=fake.kind,
        messages=count,
        seconds=seconds,
        calls=after["calls"] - before["calls"],
        accepted=after["accepted"] - before["accepted"],
        distinct=after["distinct_recipients"] - before["distinct_recipients"],
        statuses=statuses,
    )


def report(console: Any, run: ProviderRun, smtp_rate: float, target: float) -> bool:
    ratio = run.rate / smtp_rate if smtp_rate else 0.0
    console.print(
        f"[bold]{run.kind} (fake): {run.rate:,.0f} messages/s[/bold] in {run.seconds:.1f} s, "
        f"{run.calls / max(1, run.messages):.3f} HTTP calls per message; "
        f"[bold]ratio {run.kind} / SMTP end to end: {ratio:.2f}[/bold]; "
        + ("meets" if run.rate >= target else "MISSES")
        + f" the target of {target:,.0f}/s"
    )
    ok = run.accepted == run.messages and run.distinct == run.messages
    ok = ok and run.statuses == {"sent": run.messages}
    mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
    console.print(
        f"{mark} {run.kind}: every recipient exactly once: {run.accepted:,} taken, "
        f"{run.distinct:,} distinct, ledger {run.statuses}"
    )
    return ok


# --- Failover ------------------------------------------------------------------------------------


@dataclass
class FailoverRun:
    messages: int
    seconds: float
    before_rate: float
    dip_rate: float
    after_rate: float
    recovery_seconds: float | None
    primary: int
    secondary: int
    statuses: dict[str, int]


def set_fault(fake: FakeProcess, fault: str | None) -> None:
    from tests.fakes.http import FAULT_PATH

    httpx.post(fake.url + FAULT_PATH, json=fault, timeout=10)


def failover_run(
    org_id: uuid.UUID,
    template_id: uuid.UUID,
    primary: FakeProcess,
    secondary: FakeProcess,
    count: int,
    limit: float,
) -> FailoverRun:
    """A third campaign with the list [primary, secondary]; once a third of it went through
    the primary, the primary answers 5xx to everything. Samples both fakes every 0.25 s: the
    rate before, the lowest one-second rate after (the dip), the rate through the second provider
    once settled, and how long after the failure a one-second window first reached 80% of that
    (recovery)."""
    import sqlalchemy as sa

    from herald.campaigns import lifecycle
    from herald.db import get_database
    from herald.email import provider_list
    from herald.email.provider_schemas import ProviderCreate
    from herald.models import Campaign, Message

    database = get_database()
    campaign_id = switch_to_provider(org_id, template_id, secondary, create_entry=False)
    with database.transaction() as session:
        provider_list.create(
            session,
            org_id,
            ProviderCreate(
                kind=secondary.kind,  # type: ignore[arg-type]
                label=f"{secondary.kind} (fake, second)",
                config=provider_config(secondary),
            ),
        )
    start_primary, start_secondary = primary.stats()["accepted"], secondary.stats()["accepted"]
    samples: list[tuple[float, int]] = []
    failed_at: float | None = None
    started = time.perf_counter()
    with database.transaction() as session:
        lifecycle.send_now(session, org_id, campaign_id)
    while True:
        now = time.perf_counter() - started
        taken_primary = primary.stats()["accepted"] - start_primary
        taken = taken_primary + secondary.stats()["accepted"] - start_secondary
        samples.append((now, taken))
        if failed_at is None and taken_primary >= count // 3:
            set_fault(primary, "5xx")
            failed_at = now
        with database.transaction() as session:
            status = session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
        if status == "sent" and taken >= count:
            break
        if now > limit:
            raise RuntimeError(f"failover run: time limit ({taken} of {count})")
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    set_fault(primary, None)
    with database.transaction() as session:
        statuses = dict(
            session.execute(
                sa.select(Message.status, sa.func.count())
                .where(Message.source_id == campaign_id)
                .group_by(Message.status)
            ).all()
        )

    def rate_between(begin: float, end: float) -> float:
        inside = [(t, n) for t, n in samples if begin <= t <= end]
        if len(inside) < 2 or inside[-1][0] == inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    fault_at = failed_at if failed_at is not None else seconds
    first_taken = next((t for t, n in samples if n > 0), 0.0)
    before = rate_between(first_taken, fault_at)
    windows = [rate_between(t, t + 1.0) for t, _n in samples if fault_at <= t <= seconds - 1.0]
    # The secondary's own pace: the second half of what came after the failure.
    after = rate_between(fault_at + (seconds - fault_at) / 2, seconds)
    recovery = next(
        (
            t - fault_at
            for t, _n in samples
            if fault_at <= t <= seconds - 1.0 and rate_between(t, t + 1.0) >= 0.8 * after
        ),
        None,
    )
    return FailoverRun(
        messages=count,
        seconds=seconds,
        before_rate=before,
        dip_rate=min(windows) if windows else 0.0,
        after_rate=after,
        recovery_seconds=recovery,
        primary=primary.stats()["accepted"] - start_primary,
        secondary=secondary.stats()["accepted"] - start_secondary,
        statuses=statuses,
    )


def report_failover(console: Any, run: FailoverRun) -> bool:
    recovery = (
        f"{run.recovery_seconds:.1f} s"
        if run.recovery_seconds is not None
        else "not within the run"
    )
    console.print(
        f"[bold]failover[/bold]: {run.messages:,} messages in {run.seconds:.1f} s; "
        f"{run.before_rate:,.0f}/s before the primary failed, lowest one-second rate after "
        f"{run.dip_rate:,.0f}/s, {run.after_rate:,.0f}/s through the second once settled, "
        f"reached (80%) {recovery} after the failure; "
        f"primary took {run.primary:,}, secondary {run.secondary:,}"
    )
    ok = run.primary + run.secondary == run.messages and run.statuses == {"sent": run.messages}
    mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
    console.print(
        f"{mark} failover: every recipient exactly once across both, ledger {run.statuses}"
    )
    return ok
