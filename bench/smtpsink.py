"""An SMTP sink on loopback for the campaign benchmark: it accepts every message, keeps nothing
but counts, and says afterwards who got what and how often.

Two servers, the same bookkeeping:

- `minimal` (the default): a small SMTP server on asyncio (uvloop when installed), written for the
  benchmark: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, with PIPELINING and SMTPUTF8
  advertised. It finds a message's end with `bytes.find` and reads one header, so that the sink
  costs a few tens of microseconds a message and stays out of the measurement.
- `aiosmtpd`: aiosmtpd's SMTP server with a handler that counts; a full implementation, slower
  (it parses every line in Python).

The sink runs in its own process (`start_sink`). The parent reads the running count from shared
memory and asks for a phase's summary over a pipe: messages, distinct recipients, recipients
received more than once, a digest of the sorted recipient list (to compare with the expected one
without shipping a million addresses), the same for Herald's message ids (`X-Herald-Message-Id`),
bytes and the sink's CPU seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HERALD_ID_HEADER = b"\r\nx-herald-message-id:"
# A message's header block is looked at up to here for Herald's id.
HEAD_BYTES = 16_384
DUPLICATES_SHOWN = 20


def digest(values: Iterable[str]) -> str:
    """SHA-256 of the sorted values, one a line: equal digests, equal multisets."""
    hasher = hashlib.sha256()
    for value in sorted(values):
        hasher.update(value.encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


@dataclass
class Tally:
    """What one phase received."""

    messages: int = 0
    size: int = 0
    recipients: Counter[str] = field(default_factory=Counter)
    herald_ids: Counter[str] = field(default_factory=Counter)
    started: float | None = None
    last: float | None = None

    def add(self, recipients: list[str], head: bytes, size: int) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        self.last = now
        self.messages += 1
        self.size += size
        for recipient in recipients:
            self.recipients[recipient] += 1
        head = head[:HEAD_BYTES].lower()
        at = head.find(HERALD_ID_HEADER)
        if at >= 0:
            start = at + len(HERALD_ID_HEADER)
            end = head.find(b"\r\n", start)
            self.herald_ids[head[start:end].strip().decode("ascii", "replace")] += 1

    def summary(self, cpu_seconds: float) -> dict[str, Any]:
        duplicates = [(r, n) for r, n in self.recipients.items() if n > 1]
        duplicate_ids = [(i, n) for i, n in self.herald_ids.items() if n > 1]
        return {
            "messages": self.messages,
            "bytes": self.size,
            "recipients": sum(self.recipients.values()),
            "distinct_recipients": len(self.recipients),
            "duplicate_recipients": len(duplicates),
            "duplicates_shown": sorted(duplicates)[:DUPLICATES_SHOWN],
            "recipient_digest": digest(self.recipients.elements()),
            "herald_ids": sum(self.herald_ids.values()),
            "distinct_herald_ids": len(self.herald_ids),
            "duplicate_herald_ids": len(duplicate_ids),
            "herald_id_digest": digest(self.herald_ids),
            "first_at": self.started,
            "last_at": self.last,
            "cpu_seconds": cpu_seconds,
        }


class Sink:
    """The state the servers share: the current phase's tally and the shared counter."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.tally = Tally()

    def received(self, recipients: list[str], head: bytes, size: int) -> None:
        self.tally.add(recipients, head, size)
        self.counter.value += 1

    def take(self) -> Tally:
        tally, self.tally = self.tally, Tally()
        self.counter.value = 0
        return tally


# --- The minimal server ---------------------------------------------------------------------------

EHLO_REPLY = (
    b"250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250 SIZE 104857600\r\n"
)


def _address(argument: bytes) -> str:
    """The address of `TO:<a@b> PARAMS` or `FROM:<a@b>`."""
    start, end = argument.find(b"<"), argument.find(b">")
    value = argument[start + 1 : end] if 0 <= start < end else argument.partition(b":")[2]
    return value.strip().decode("utf-8", "replace").lower()


class MinimalSmtp(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = bytearray()
        self.in_data = False
        self.searched = 0
        self.recipients: list[str] = []
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.transport.write(b"220 sink.localhost ESMTP bench sink\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while self.buffer:
            if self.in_data:
                if not self._message_end(replies):
                    break
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            if not self._command(line, replies):
                break
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))

    def _message_end(self, replies: list[bytes]) -> bool:
        if self.buffer.startswith(b".\r\n"):
            end, skip = 0, 3
        else:
            end = self.buffer.find(b"\r\n.\r\n", max(0, self.searched - 4))
            if end < 0:
                self.searched = len(self.buffer)
                return False
            skip = 5
        # Only the head is looked at: no copy of the whole message.
        head = bytes(self.buffer[: min(end, HEAD_BYTES)])
        del self.buffer[: end + skip]
        self.in_data, self.searched = False, 0
        self.sink.received(self.recipients, head, end)
        self.recipients = []
        replies.append(b"250 2.0.0 OK queued\r\n")
        return True

    def _command(self, line: bytes, replies: list[bytes]) -> bool:
        verb = line[:4].upper()
        if verb == b"MAIL":
            self.recipients = []
            replies.append(b"250 2.1.0 OK\r\n")
        elif verb == b"RCPT":
            self.recipients.append(_address(line[4:]))
            replies.append(b"250 2.1.5 OK\r\n")
        elif verb == b"DATA":
            if not self.recipients:
                replies.append(b"503 5.5.1 no recipients\r\n")
            else:
                self.in_data = True
                replies.append(b"354 end with <CRLF>.<CRLF>\r\n")
        elif verb == b"EHLO":
            replies.append(EHLO_REPLY)
        elif verb in (b"HELO", b"NOOP"):
            replies.append(b"250 OK\r\n")
        elif verb == b"RSET":
            self.recipients = []
            replies.append(b"250 OK\r\n")
        elif verb == b"QUIT":
            replies.append(b"221 bye\r\n")
            if self.transport is not None:
                self.transport.write(b"".join(replies))
                replies.clear()
                self.transport.close()
            return False
        else:
            replies.append(b"502 5.5.2 not implemented\r\n")
        return True


# --- The process ------------------------------------------------------------------------------


def _aiosmtpd_factory(sink: Sink) -> Any:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            data = envelope.original_content or envelope.content
            if isinstance(data, str):
                data = data.encode()
            sink.received([str(r).lower() for r in envelope.rcpt_tos], data, len(data))
            return "250 2.0.0 OK queued"

    handler = Handler()
    return lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="sink.localhost")


def _take_on_loop(loop: asyncio.AbstractEventLoop, sink: Sink) -> Tally:
    """The sink's tally, taken on its event loop (between messages) from another thread."""
    done = threading.Event()
    taken: list[Tally] = []

    def take() -> None:
        taken.append(sink.take())
        done.set()

    loop.call_soon_threadsafe(take)
    done.wait()
    return taken[0]


def _serve(
    kind: str,
    listener: socket.socket,
    counter: Any,
    control: multiprocessing.connection.Connection,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # only speed
        pass
    sink = Sink(counter)
    loop = asyncio.new_event_loop()
    factory = _aiosmtpd_factory(sink) if kind == "aiosmtpd" else (lambda: MinimalSmtp(sink))

    def answer() -> None:
        # The pipe is read in a thread; the tally is taken on the loop, between messages.
        while True:
            try:
                request = control.recv()
            except EOFError:
                loop.call_soon_threadsafe(loop.stop)
                return
            if request == "stop":
                loop.call_soon_threadsafe(loop.stop)
                return
            control.send(_take_on_loop(loop, sink).summary(time.process_time()))

    async def start() -> asyncio.AbstractServer:
        return await loop.create_server(factory, sock=listener, backlog=256)

    server = loop.run_until_complete(start())
    threading.Thread(target=answer, name="sink-control", daemon=True).start()
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


@dataclass
class SinkProcess:
    process: multiprocessing.process.BaseProcess
    port: int
    counter: Any
    control: multiprocessing.connection.Connection

    @property
    def received(self) -> int:
        return int(self.counter.value)

    def take(self) -> dict[str, Any]:
        """The current phase's summary; the sink starts a new phase (its counter back at 0)."""
        self.control.send("take")
        if not self.control.poll(300):
            raise RuntimeError("the SMTP sink did not answer")
        summary: dict[str, Any] = self.control.recv()
        return summary

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.control.send("stop")
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)


def start_sink(kind: str = "minimal") -> SinkProcess:
    """The sink in a process of its own, listening on a free loopback port."""
    if kind not in ("minimal", "aiosmtpd"):
        raise ValueError(f"unknown sink {kind!r}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    port = int(listener.getsockname()[1])
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0, lock=False)
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve, args=(kind, listener, counter, child), name="smtp-sink", daemon=True
    )
    process.start()
    listener.close()
    child.close()
    return SinkProcess(process=process, port=port, counter=counter, control=parent)


def sink_pid(sink: SinkProcess) -> int:
    pid = sink.process.pid
    assert pid is not None
    return pid


if __name__ == "__main__":  # a quick self-check: python bench/smtpsink.py
    import smtplib

    running = start_sink(os.environ.get("SINK", "minimal"))
    with smtplib.SMTP("127.0.0.1", running.port) as client:
        for index in range(3):
            client.sendmail(
                "a@example.com",
                [f"r{index}@example.com"],
                b"Subject: x\r\nX-Herald-Message-Id: 1\r\n\r\n.dot\r\nbody\r\n",
            )
    time.sleep(0.2)
    print(running.take())
    running.stop()
