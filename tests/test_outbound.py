"""The outbound HTTP client for user-named hosts, against real receivers on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from herald.outbound import (
    DestinationRefused,
    allow_networks,
    check_url,
    outbound_client,
    sign,
    verify_signature,
)

LOOPBACK = "127.0.0.0/8"


class Receiver(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        Receiver.hits.append(self.path)
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(1.5)
            return
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "http"),
        ("file:///etc/passwd", "http"),
        ("http:///nohost", "no host"),
        ("http://user:pw@93.184.215.14/", "credentials"),
        ("http://127.0.0.1/", "loopback"),
        ("http://localhost:8000/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00:ec2::254]/", "private"),
        ("http://100.64.0.1/", "not a public"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://93.184.215.14:99999/", "port"),
    ],
)
def test_urls_that_are_not_public_are_refused_at_save(url: str, reason: str) -> None:
    with pytest.raises(DestinationRefused, match=reason):
        check_url(url)


def test_a_public_address_passes_the_check() -> None:
    check_url("https://93.184.215.14/hook")
    check_url("http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook")


def test_the_connection_is_checked_whatever_was_checked_before(receiver: int) -> None:
    """A URL is checked again when the request connects (DNS may have changed since it was
    saved): a host that resolves to loopback is refused, and the receiver sees nothing."""
    with outbound_client() as client, pytest.raises(DestinationRefused, match="loopback"):
        client.post(f"http://localhost:{receiver}/hook", content=b"{}")
    with outbound_client() as client, pytest.raises(DestinationRefused, match="loopback"):
        client.post(f"http://127.0.0.1:{receiver}/hook", content=b"{}")
    assert Receiver.hits == []


def test_an_allowed_network_is_reached_and_redirects_are_not_followed(receiver: int) -> None:
    with allow_networks(LOOPBACK), outbound_client() as client:
        assert client.post(f"http://localhost:{receiver}/hook", content=b"{}").text == "ok"
        redirected = client.post(f"http://127.0.0.1:{receiver}/redirect", content=b"{}")
    assert redirected.status_code == 302
    assert Receiver.hits == ["/hook", "/redirect"]
    with pytest.raises(DestinationRefused):
        check_url(f"http://127.0.0.1:{receiver}/hook")


def test_a_slow_receiver_times_out(receiver: int) -> None:
    with (
        allow_networks(LOOPBACK),
        outbound_client(timeout=0.3) as client,
        pytest.raises(httpx.TimeoutException),
    ):
        client.post(f"http://127.0.0.1:{receiver}/slow", content=b"{}")


def test_signatures_verify_and_refuse_tampering_staleness_and_other_secrets() -> None:
    body = b'{"event": "Started Checkout"}'
    header = sign("s3cret", body, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert verify_signature("s3cret", header, body, now=1_800_000_010)
    assert not verify_signature("s3cret", header, body + b" ", now=1_800_000_010)
    assert not verify_signature("other", header, body, now=1_800_000_010)
    assert not verify_signature("s3cret", header, body, now=1_800_000_000 + 301)
    assert not verify_signature("s3cret", "v1=abc", body, now=1_800_000_000)
    # During a rotation a sender may sign with both secrets; either verifies.
    rotated = header + "," + sign("new", body, timestamp=1_800_000_000).split(",")[1]
    assert verify_signature("new", rotated, body, now=1_800_000_000)
    assert verify_signature("s3cret", rotated, body, now=1_800_000_000)
