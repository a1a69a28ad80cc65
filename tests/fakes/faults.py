"""What a fake can be told to do instead of taking messages."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

Fault = Literal["throttle", "5xx", "suspended", "unauthorized", "hang"] | None


@dataclass
class Accepted:
    to: str
    herald_message_id: str | None
    provider_message_id: str
    subject: str


@dataclass
class FakeState:
    """Shared by a fake's handler threads: what it took, and what it must do instead."""

    fault: Fault = None
    # Start acting on `fault` once this many messages were taken (a provider failing
    # mid-campaign); None: from the start.
    fail_after: int | None = None
    invalid: set[str] = field(default_factory=set)
    hang_seconds: float = 2.0
    accepted: list[Accepted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current_fault(self) -> Fault:
        with self.lock:
            if self.fail_after is not None and len(self.accepted) < self.fail_after:
                return None
            return self.fault

    def take(self, item: Accepted) -> None:
        with self.lock:
            self.accepted.append(item)

    def recipients(self) -> list[str]:
        with self.lock:
            return [a.to for a in self.accepted]

    def hang(self) -> None:
        time.sleep(self.hang_seconds)
