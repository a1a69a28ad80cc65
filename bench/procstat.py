"""What processes use, read from /proc (Linux only): resident memory and CPU time of a process
tree, and the whole machine's CPU time."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the rest follows the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After the command name: state is index 0, utime index 11, stime index 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process, in kB."""
    try:
        with open(PROC / str(pid) / "status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_tree(root: int) -> list[int]:
    """`root` and all its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if (PROC / str(pid)).exists():
            tree.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(tree)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores."""
    with open(PROC / "stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


@dataclass
class Sample:
    at: float
    phase: str
    fraction: float
    rss: dict[int, int]

    @property
    def total_kb(self) -> int:
        return sum(self.rss.values())


@dataclass
class MemorySampler:
    """Samples the RSS of a process tree every `interval` seconds in a background thread; the
    caller labels samples by setting `phase` and `fraction` (how far the phase has got)."""

    root: int
    interval: float = 0.5
    phase: str = "start"
    fraction: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> Sample:
        rss = {pid: kb for pid in process_tree(self.root) if (kb := rss_kb(pid)) is not None}
        taken = Sample(time.monotonic(), self.phase, self.fraction, rss)
        self.samples.append(taken)
        return taken

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def in_phase(self, phase: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == phase and s.rss]
