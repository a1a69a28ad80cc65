"""`/metrics` on a bind address of its own (HERALD_METRICS_BIND), apart from the API's port.

Every Herald process of a machine (API processes, workers, the scheduler, `herald run`) tries to
listen there; the first to bind serves the machine's metrics (they are added up across processes,
see herald.observability.metrics) and the others try again every RETRY_SECONDS, so when the
serving process stops another takes the address over. The address is the protection (a loopback
or private interface that only the scraper reaches); when HERALD_METRICS_TOKEN is set as well,
the listener asks for it too.
"""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger(__name__)

RETRY_SECONDS = 10.0

_started = False
_lock = threading.Lock()


def parse_bind(bind: str) -> tuple[str, int]:
    """`host:port`, `[v6 address]:port` or `:port` (every interface) as (host, port)."""
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {bind!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":port" asks for every one


class _MetricsHandler(BaseHTTPRequestHandler):
    token: str | None = None

    def do_GET(self) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST

        from herald.observability.metrics import exposition

        if self.path.split("?", 1)[0] != "/metrics":
            self._answer(404, b"not found: metrics are at /metrics\n", "text/plain")
            return
        if self.token is not None:
            given = (self.headers.get("Authorization") or "").encode()
            if not hmac.compare_digest(given, f"Bearer {self.token}".encode()):
                self._answer(401, b"send the metrics token as 'Authorization: Bearer ...'\n")
                return
        try:
            body = exposition()
        except Exception:
            logger.exception("could not collect the metrics")
            self._answer(500, b"could not collect the metrics\n")
            return
        self._answer(200, body, CONTENT_TYPE_LATEST)

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # scrapes every few seconds would drown the logs


def start_metrics_listener(bind: str | None, token: str | None) -> None:
    """Serve /metrics on `bind` from a daemon thread of this process, once the address is free
    (at once, or after whichever process holds it stops). A no-op without `bind`, and when this
    process already started it."""
    global _started
    if not bind:
        return
    with _lock:
        if _started:
            return
        _started = True
    address = parse_bind(bind)
    handler = type("MetricsHandler", (_MetricsHandler,), {"token": token or None})
    stop = threading.Event()

    def listen() -> None:
        waiting_logged = False
        while not stop.is_set():
            try:
                server = ThreadingHTTPServer(address, handler)
            except OSError as exc:
                if not waiting_logged:
                    logger.info("metrics address %s is taken (%s); trying again", bind, exc)
                    waiting_logged = True
                stop.wait(RETRY_SECONDS)
                continue
            server.daemon_threads = True
            logger.info("serving /metrics on %s", bind)
            server.serve_forever()

    threading.Thread(target=listen, name="metrics-listener", daemon=True).start()
