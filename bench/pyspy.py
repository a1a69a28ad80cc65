"""Record a process tree with py-spy and summarize its collapsed ("raw") stacks: where the time
goes by function (inclusive and self) and by package."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_SITE = re.compile(r".*/(?:site|dist)-packages/")
_STDLIB = re.compile(r".*/lib/python3\.\d+/")
_SAMPLES = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def py_spy_path() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recorder:
    """`py-spy record` on a process and its children until `stop()`. Only threads holding the
    GIL are sampled: each process runs Python one thread at a time, so these samples are where
    its Python time goes, without threads that wait for the database, the network or the GIL."""

    def __init__(self, executable: str, pid: int, output: Path, rate: int = 97) -> None:
        self.output = output
        self.log = output.with_suffix(".log")
        command = [
            executable,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--gil",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(output),
        ]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _short(path: str) -> str:
    path = _SITE.sub("", path)
    path = _STDLIB.sub("stdlib/", path)
    marker = "/herald/"
    if marker in path:
        return "herald/" + path.split(marker, 1)[1]
    return path


def _package(path: str) -> str:
    if path.startswith("stdlib/"):
        return "stdlib:" + path.split("/")[1].removesuffix(".py")
    return path.split("/")[0].removesuffix(".py")


@dataclass
class Summary:
    samples: int
    inclusive: list[tuple[str, int]]
    own: list[tuple[str, int]]
    packages: list[tuple[str, int]]
    # Herald's own lines, inclusive: which statement of which function the time is under.
    lines: list[tuple[str, int]]


def summarize(path: Path, top: int = 25, focus: str = "") -> Summary:
    """Functions by inclusive and by self samples (`focus` keeps only frames whose file starts
    with it in the inclusive list), and self samples by package."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        match = _SAMPLES.match(line)
        if match is None:
            continue
        count = int(match["count"])
        frames = []
        seen: set[str] = set()
        for raw in match["stack"].split(";"):
            frame = _FRAME.match(raw)
            if frame is None or raw.startswith("process "):
                continue
            file = _short(frame["file"])
            frames.append((f"{frame['function']} ({file})", file))
            if file.startswith("herald/"):
                site = f"{frame['function']} ({file}:{frame['line']})"
                if site not in seen:
                    seen.add(site)
                    lines[site] += count
        if not frames:
            continue
        total += count
        for name in {name for name, file in frames if file.startswith(focus)}:
            inclusive[name] += count
        own[frames[-1][0]] += count
        packages[_package(frames[-1][1])] += count
    return Summary(
        total,
        inclusive.most_common(top),
        own.most_common(top),
        packages.most_common(top),
        lines.most_common(top),
    )
