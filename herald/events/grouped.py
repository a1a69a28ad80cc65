"""Grouped single events: single-event requests arriving together are stored by one `ingest` call
and one commit, by a few threads per process, each request still getting its own outcome."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass

from herald.db import get_database
from herald.events.batch import EventInput, Outcome
from herald.events.service import ingest

logger = logging.getLogger(__name__)

# How long a group stays open after its first event for others to join. A millisecond: under load
# the groups grow several times (each commit costs about as much CPU as a few events) and answers
# come sooner, not later; a lone event waits that much longer.
GROUP_GATHER_SECONDS = 0.001
# Threads storing groups of single events, per process.
GROUP_COMMIT_THREADS = 2


@dataclass(slots=True)
class _Pending:
    org_id: uuid.UUID
    item: EventInput
    source: str
    future: Future[Outcome]


class GroupCommit:
    """Stores single events from concurrent requests together: one transaction, through `ingest`,
    for every event that arrived while the previous group was being stored (up to `max_items`).

    Each request waits for its own outcome, which is set only after the group's commit, so a
    request never answers for an event that is not stored. Each event keeps its own outcome (a
    bad event is reported to its request alone) and its own change record. If the group's
    transaction fails as a whole, every event is tried again on its own, so one event that makes
    the database refuse the transaction cannot fail the others.

    `threads` threads a process store the groups, so that one group is built while another
    waits for its commit to reach the disk. A group takes every event queued while the previous
    ones were stored, and the events that arrive within `GROUP_GATHER_SECONDS` of its first one.
    Callers wait on a `concurrent.futures.Future` (from a thread) or
    `await asyncio.wrap_future(...)` (on the event loop).
    """

    def __init__(self, max_items: int = 1000, threads: int = GROUP_COMMIT_THREADS) -> None:
        self.max_items = max_items
        self.threads = threads
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pid = 0

    def submit(
        self, org_id: uuid.UUID, item: EventInput, *, source: str = "api"
    ) -> Future[Outcome]:
        """Queue one event; the future holds its outcome once the event is committed."""
        if self._pid != os.getpid() or not all(t.is_alive() for t in self._threads):
            self._start()
        future: Future[Outcome] = Future()
        self._queue.put(_Pending(org_id, item, source, future))
        return future

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child starts with no backlog and no threads
                self._queue = queue.SimpleQueue()
                self._threads = []
                self._pid = os.getpid()
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.threads:
                thread = threading.Thread(
                    target=self._run, name="herald-event-group-commit", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            deadline = time.monotonic() + GROUP_GATHER_SECONDS
            while len(group) < self.max_items:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        group.append(self._queue.get(timeout=remaining))
                    except queue.Empty:
                        break
            # A request that gave up before its event was taken (the client went away) is not
            # stored; one taken is stored and answered even if nobody reads the answer.
            group = [p for p in group if p.future.set_running_or_notify_cancel()]
            try:
                self.store(group)
            except BaseException as exc:  # the thread must outlive any failure
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    def store(self, group: list[_Pending]) -> None:
        """Store a group in one transaction and set each future after the commit; if that
        transaction fails, store each event on its own."""
        if not group:
            return
        try:
            outcomes = _store_group(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].future.set_exception(exc)
                return
            logger.warning(
                "a group of %d events failed together (%r); storing them one by one",
                len(group),
                exc,
            )
            for pending in group:
                self.store([pending])
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            pending.future.set_result(outcome)


def _store_group(group: list[_Pending]) -> list[Outcome]:
    """Every event of the group, one `ingest` call per organization and source, one commit. Each
    event counts as its own request for the change records."""
    by_call: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(list)
    for position, pending in enumerate(group):
        by_call[pending.org_id, pending.source].append(position)
    outcomes: list[Outcome | None] = [None] * len(group)
    with get_database().transaction() as session:
        for (org_id, source), positions in by_call.items():
            stored = ingest(
                session,
                org_id,
                [group[p].item for p in positions],
                source=source,
                requests=range(len(positions)),
            )
            for position, outcome in zip(positions, stored, strict=True):
                outcomes[position] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


single_events = GroupCommit()
