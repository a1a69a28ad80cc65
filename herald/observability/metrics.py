"""Prometheus metrics, shared by every Herald process on a machine.

Counters and histograms (requests, ingested events, messages, sweep re-queues) are counted by the
process where they happen. With `PROMETHEUS_MULTIPROC_DIR` set (the CLI sets it to
HERALD_METRICS_DIR, by default `<data dir>/metrics`, before this module is imported), each
process writes its values to files there and `/metrics`, served by any API process, adds up those
of every process on the machine: API processes and workers alike. The state of the work (queue
depth, claimed and pending rows by kind, segment and flow lag, live processes) is read from the
database and the queue when `/metrics` is scraped, so it is the same whichever process answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from herald.db import get_database, utcnow

HTTP_REQUESTS = Counter(
    "herald_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "herald_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_INGESTED = Counter(
    "herald_events_ingested",
    "Events received for storage, by outcome (stored, duplicate, rejected) and source.",
    ["outcome", "source"],
)
MESSAGES = Counter(
    "herald_messages",
    "Messages handed to a provider, by provider and outcome (sent, retry, failed).",
    ["provider", "outcome"],
)
SWEEP_REQUEUES = Counter(
    "herald_sweep_requeues",
    "Kicks re-sent by a sweep for work left pending or abandoned, by sweep.",
    ["sweep"],
)


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment is not None else 0.0


class WorkStateCollector(Collector):
    """Gauges read at scrape time from the database (the truth) and the queue."""

    def collect(self) -> Iterator[Metric]:
        from herald.models import FlowEnrolment, Job, Message, Process, ProfileChange
        from herald.system.processes import gone
        from herald.worker import huey

        now = utcnow()
        queue = GaugeMetricFamily("herald_queue_depth", "Kicks waiting in the task queue.")
        try:
            queue.add_metric([], float(huey.pending_count()))
        except Exception:
            queue.add_metric([], float("nan"))
        yield queue

        work = GaugeMetricFamily(
            "herald_work_items",
            "Work rows pending or claimed, by kind and status.",
            labels=["kind", "status"],
        )
        with get_database().transaction() as session:
            for channel, status, count in session.execute(
                sa.select(Message.channel, Message.status, sa.func.count())
                .where(Message.status.in_(("queued", "sending")))
                .group_by(Message.channel, Message.status)
            ):
                work.add_metric([f"message.{channel}", status], float(count))
            for kind, status, count in session.execute(
                sa.select(Job.kind, Job.status, sa.func.count())
                .where(Job.status.in_(("pending", "running")))
                .group_by(Job.kind, Job.status)
            ):
                work.add_metric([f"job.{kind}", status], float(count))
            changes, oldest_change = session.execute(
                sa.select(sa.func.count(), sa.func.min(ProfileChange.created_at))
            ).one()
            due, oldest_due = session.execute(
                sa.select(sa.func.count(), sa.func.min(FlowEnrolment.due_at)).where(
                    FlowEnrolment.status == "active", FlowEnrolment.due_at <= now
                )
            ).one()
            live = session.execute(
                sa.select(Process.role, sa.func.count())
                .where(sa.not_(gone(now)))
                .group_by(Process.role)
            ).all()
        work.add_metric(["segment.change", "pending"], float(changes))
        work.add_metric(["flow.step", "due"], float(due))
        yield work

        lag = GaugeMetricFamily(
            "herald_processing_lag_seconds",
            "Age of the oldest work waiting: profile changes for segments, due flow steps.",
            labels=["kind"],
        )
        lag.add_metric(["segments"], _seconds_since(oldest_change, now))
        lag.add_metric(["flows"], _seconds_since(oldest_due, now))
        yield lag

        processes = GaugeMetricFamily(
            "herald_live_processes",
            "Registered Herald processes beating, by role.",
            labels=["role"],
        )
        for role, count in live:
            processes.add_metric([role], float(count))
        yield processes


_state = CollectorRegistry(auto_describe=False)
_state.register(WorkStateCollector())


def exposition() -> bytes:
    """The text `/metrics` answers: every process's counters, then the state of the work."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(_state)
