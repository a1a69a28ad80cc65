"""/metrics (token-protected, added up across a machine's processes) and JSON logs that carry
ids but neither keys nor people's addresses."""

from __future__ import annotations

import json
import re
import signal
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from herald.observability import listener
from herald.settings import get_settings
from tests.factories import make_org
from tests.processes import free_port
from tests.test_cli import herald, herald_env, running

TOKEN = "metrics-token-for-the-test"


def _value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_are_off_without_a_token_and_refused_without_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/metrics").status_code == 404
    monkeypatch.setenv("HERALD_METRICS_TOKEN", TOKEN)
    get_settings.cache_clear()
    refused = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"]
    assert client.get("/metrics").status_code == 401

    org = make_org()
    tracked = client.post(
        "/api/track",
        json={"event": "Viewed", "profile": {"email": "m@example.com"}},
        headers=org.public_headers,
    )
    assert tracked.status_code < 300, tracked.text
    assert tracked.headers["x-request-id"]
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    text = answer.text
    assert (
        _value(text, "herald_http_requests_total", route="/api/track", status="202")
        + _value(text, "herald_http_requests_total", route="/api/track", status="200")
        >= 1
    )
    assert _value(text, "herald_events_ingested_total", outcome="stored") >= 1
    assert "herald_http_request_duration_seconds_bucket" in text
    assert "herald_queue_depth" in text
    assert "herald_processing_lag_seconds" in text
    # The caller's request id is kept (a load balancer's, say); a strange one is replaced.
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-1234"})
    assert kept.headers["x-request-id"] == "lb-1234"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id; drop"})
    assert replaced.headers["x-request-id"] != "bad id; drop"


def test_metrics_add_up_processes_and_json_logs_hold_no_keys_or_addresses(tmp_path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = herald_env(
        data_dir, HERALD_LOG_FORMAT="json", HERALD_LOG_LEVEL="info", HERALD_METRICS_TOKEN=TOKEN
    )
    assert herald(env, "migrate").returncode == 0
    created = herald(
        env,
        "org",
        "create",
        "Logs",
        "--admin-email",
        "owner.person@example.com",
        "--admin-password",
        "a long enough password",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    org = json.loads(created.stdout)
    email = "private.person@example.com"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with running(env, "serve", tmp_path) as first, running(env, "serve", tmp_path) as second:
        before = httpx.get(first.base_url + "/metrics", headers=auth, timeout=30).text
        for _ in range(3):
            assert httpx.get(first.base_url + "/healthz").status_code == 200
        for _ in range(2):
            assert httpx.get(second.base_url + "/healthz").status_code == 200
        tracked = httpx.post(
            first.base_url + "/api/track",
            json={"event": "Viewed", "profile": {"email": email}},
            headers={"Authorization": f"Bearer {org['public_key']}"},
            timeout=30,
        )
        assert tracked.status_code < 300, tracked.text
        listed = httpx.get(
            second.base_url + f"/api/profiles?email={email}",
            headers={"Authorization": f"Bearer {org['secret_key']}"},
            timeout=30,
        )
        assert listed.status_code == 200, listed.text
        after = httpx.get(second.base_url + "/metrics", headers=auth, timeout=30).text
        first.stop(signal.SIGTERM)
        second.stop(signal.SIGTERM)
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    # Scraped from the other process: both processes' requests are in it.
    assert (
        _value(after, "herald_http_requests_total", **healthz)
        - _value(before, "herald_http_requests_total", **healthz)
        == 5
    )
    assert _value(after, "herald_events_ingested_total", outcome="stored") >= 1

    logs = first.output()[1] + second.output()[1]
    lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "herald.access"]
    assert any(line.get("org_id") == org["org_id"] and line["request_id"] for line in access)
    assert any(line["http"]["route"] == "/api/profiles" for line in access)
    for secret in (org["secret_key"], org["public_key"], email, "owner.person@example.com"):
        assert secret not in logs


def test_metrics_on_their_own_bind_address_are_served_by_one_process_and_taken_over(
    tmp_path,
) -> None:
    """HERALD_METRICS_BIND: every process offers to serve /metrics there; one binds, the
    other takes the address over when it stops. The API's port keeps /metrics off (no token)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    bind = f"127.0.0.1:{free_port()}"
    env = herald_env(data_dir, HERALD_METRICS_BIND=bind)
    assert herald(env, "migrate").returncode == 0
    url = f"http://{bind}/metrics"
    with running(env, "serve", tmp_path) as first, running(env, "serve", tmp_path) as second:
        for _ in range(3):
            assert httpx.get(first.base_url + "/healthz").status_code == 200
        assert httpx.get(first.base_url + "/metrics").status_code == 404
        scraped = _scrape(url)
        assert scraped.status_code == 200, scraped.text
        assert "herald_queue_depth" in scraped.text
        assert (
            _value(
                scraped.text,
                "herald_http_requests_total",
                route="/healthz",
                method="GET",
                status="200",
            )
            >= 3
        )
        assert httpx.get(f"http://{bind}/other", timeout=10).status_code == 404
        # Whichever process bound the address stops; the other takes it over.
        first.stop(signal.SIGTERM)
        assert _scrape(url, timeout=listener.RETRY_SECONDS + 20).status_code == 200
        second.stop(signal.SIGTERM)


def _scrape(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_metrics_bind_address_is_host_and_port() -> None:
    assert listener.parse_bind("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert listener.parse_bind("[::1]:9464") == ("::1", 9464)
    assert listener.parse_bind(":9464") == ("0.0.0.0", 9464)
    for bad in ("127.0.0.1", "host:port", "h:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            listener.parse_bind(bad)
