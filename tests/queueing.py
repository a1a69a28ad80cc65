"""Helpers for tests that look at the real task queue rather than running tasks inline."""

from __future__ import annotations

import os
import uuid

from herald.worker import configure_queue, huey
from tests.conftest import Backend

QUEUE_NAME = f"herald-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def use_real_queue(backend: Backend) -> None:
    """Kicks stay in the real storage (SQLite file or Redis) until a worker takes them.

    A queue name of this test's own keeps other test runs that share the Redis from flushing or
    consuming its kicks; the backend fixture still flushes it afterwards.
    """
    configure_queue(
        redis_url=backend.redis_url,
        data_dir=backend.data_dir,
        immediate=False,
        name=f"{QUEUE_NAME}-{uuid.uuid4().hex[:8]}",
    )


def queued() -> list[tuple[str, tuple]]:
    return [(task.name, tuple(task.args)) for task in huey.pending()]


def drain() -> None:
    """Do what a worker does with every kick waiting in the queue."""
    # Redis dequeues block for a second on an empty queue, so look before taking.
    while huey.pending_count():
        huey.execute(huey.dequeue())
