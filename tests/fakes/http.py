"""A threaded HTTP server on a free loopback port that hands each request to a fake."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, **headers: str) -> Answer:
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
        )


Handler = Callable[[Request], Answer]
STATS_PATH = "/_fake/stats"
FAULT_PATH = "/_fake/fault"


class FakeServer:
    """Serves `handle` on 127.0.0.1; `url` is where; `calls` counts requests."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.calls = 0
        self._lock = threading.Lock()
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path in (STATS_PATH, FAULT_PATH):  # a benchmark in another process
                    if self.path == FAULT_PATH:
                        fake.set_fault(json.loads(self.rfile.read(length) or b"null"))
                    answer = Answer.json(200, fake.stats())
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                    return
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    fake.calls += 1
                answer = fake.handle(
                    Request(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = _serve  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def set_fault(self, fault: str | None) -> None:
        state = getattr(self, "state", None)
        if state is not None:
            state.fault = fault

    def stats(self) -> dict[str, Any]:
        """Calls taken, and what a fake with a `state` accepted."""
        state = getattr(self, "state", None)
        recipients = state.recipients() if state is not None else []
        return {
            "calls": self.calls,
            "accepted": len(recipients),
            "distinct_recipients": len(set(recipients)),
        }

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
