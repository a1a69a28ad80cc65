"""The analytics API: reports agree with each other, CSV exports, settings, bad input, tenancy,
and the rebuild command."""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
import sys
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.models import MessageHour
from tests.analytics.test_rollups import (
    CAMPAIGN,
    Happening,
    Send,
    apply,
    apply_send,
    drain,
    scenario,
)
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def seed(client: TestClient, database: Database, org: OrgFixture) -> None:
    sends, happenings = scenario(utcnow())
    for send in sends:
        apply_send(database, org, client, send)
    for happening in happenings:
        apply(database, org, client, happening)
    drain(database)


def get(client: TestClient, org: OrgFixture, path: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/api/analytics/{path}", params=params, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_overview_sources_and_series_add_up(client: TestClient, database: Database) -> None:
    org = make_org()
    seed(client, database, org)
    overview = get(client, org, "overview")
    sources = get(client, org, "sources", limit=500)
    series = get(client, org, "timeseries", measure="revenue", interval="day")
    assert overview["attributed_revenue"] == 50.0
    assert overview["unattributed_revenue"] == 106.0
    assert sum(row["revenue"] for row in sources["data"]) == overview["attributed_revenue"]
    assert series["total"] == overview["attributed_revenue"]
    assert sum(point["value"] for point in series["points"]) == series["total"]
    assert len(series["points"]) == 30 and len(series["previous"]) == 30
    assert series["previous_total"] == 0.0
    assert overview["revenue_change"] is None  # nothing in the previous period to compare to
    assert overview["currency"] == "USD"
    assert [row["source_id"] for row in overview["best_flows"]] == [
        str(row["source_id"]) for row in sources["data"] if row["source"] == "flow"
    ]
    assert overview["getting_started"] == {
        "has_events": True,
        "has_profiles": True,
        "has_campaigns": False,
        "has_sent": True,
    }
    assert {a["name"] for a in overview["recent_activity"]} == {"Placed Order"}

    # Sorted and paged: two pages of two rows hold the sources in descending revenue order.
    first = get(client, org, "sources", sort="revenue", order="desc", limit=2)
    second = get(client, org, "sources", sort="revenue", order="desc", limit=2, offset=2)
    revenues = [row["revenue"] for row in first["data"] + second["data"]]
    assert revenues == sorted(revenues, reverse=True) and first["total"] == 3
    assert revenues[:2] == [30.0, 20.0]

    hourly = get(
        client,
        org,
        "timeseries",
        measure="clicks_unique",
        interval="hour",
        **{"from": str((utcnow() - timedelta(days=7)).date())},
    )
    assert hourly["total"] == 2.0

    by_domain = get(client, org, "deliverability", by="domain")
    domains = {row["domain"]: row for row in by_domain["data"]}
    assert domains["gmail.com"]["sent"] == 3 and domains["gmail.com"]["bounced"] == 1
    assert [w["measure"] for w in domains["gmail.com"]["warnings"]] == ["bounce_rate"]
    assert domains["outlook.com"]["unsubscribes"] == 1

    events = get(client, org, "events", interval="week")
    (orders,) = events["data"]
    assert orders["name"] == "Placed Order"
    assert sum(p["value"] for p in orders["points"]) == 156.0


def test_every_table_exports_csv(client: TestClient, database: Database) -> None:
    org = make_org()
    seed(client, database, org)
    for path, params in (
        ("sources", {}),
        ("deliverability", {"by": "provider"}),
        ("timeseries", {"measure": "open_rate"}),
        ("events", {}),
    ):
        response = client.get(
            f"/api/analytics/{path}",
            params={**params, "format": "csv"},
            headers=org.secret_headers,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert len(rows) >= 2, (path, rows)
    sources = client.get(
        "/api/analytics/sources", params={"format": "csv"}, headers=org.secret_headers
    )
    table = list(csv.DictReader(io.StringIO(sources.text)))
    assert sum(float(row["revenue"]) for row in table) == 50.0


def test_a_new_window_re_credits_past_conversions(client: TestClient, database: Database) -> None:
    org = make_org()
    seed(client, database, org)
    response = client.patch(
        "/api/analytics/settings",
        json={"attribution_window_hours": 2, "currency": "EUR"},
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "conversion_metric": "Placed Order",
        "attribution_window_hours": 2,
        "currency": "EUR",
    }
    drain(database)
    overview = get(client, org, "overview")
    # Only a's order (1 hour after the flow's click) is within two hours of a touch now.
    assert (overview["attributed_revenue"], overview["unattributed_revenue"]) == (30.0, 126.0)
    assert overview["currency"] == "EUR"


def test_bad_input_is_refused_and_changes_nothing(client: TestClient) -> None:
    org = make_org()
    today = utcnow().date()
    for path, params in (
        ("overview", {"from": str(today), "to": str(today - timedelta(days=1))}),
        ("overview", {"from": str(today - timedelta(days=500))}),
        ("overview", {"from": "yesterday"}),
        ("timeseries", {"measure": "happiness"}),
        ("timeseries", {"interval": "hour", "from": str(today - timedelta(days=60))}),
        ("sources", {"sort": "nonsense"}),
        ("sources", {"limit": 0}),
        ("sources", {"offset": -1}),
        ("deliverability", {"by": "planet"}),
        ("events", {"format": "xml"}),
    ):
        response = client.get(f"/api/analytics/{path}", params=params, headers=org.secret_headers)
        assert response.status_code == 422, (path, params, response.text)
        assert response.json()["error"]["fields"], response.text
    for body in (
        {"currency": "usd"},
        {"attribution_window_hours": 0},
        {"conversion_metric": ""},
        {"colour": "blue"},
    ):
        response = client.patch("/api/analytics/settings", json=body, headers=org.secret_headers)
        assert response.status_code == 422, (body, response.text)
    settings = client.get("/api/analytics/settings", headers=org.secret_headers).json()
    assert settings == {
        "conversion_metric": "Placed Order",
        "attribution_window_hours": 120,
        "currency": "USD",
    }


def test_campaign_links_and_tenancy(client: TestClient, database: Database) -> None:
    org = make_org()
    created = client.post("/api/campaigns", json={"name": "Spring"}, headers=org.secret_headers)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    segment = client.post(
        "/api/segments",
        json={
            "name": "Gmail",
            "definition": {
                "conditions": [
                    {"type": "profile", "field": "email", "operator": "contains", "value": "@"}
                ]
            },
        },
        headers=org.secret_headers,
    )
    assert segment.status_code == 201, segment.text
    import uuid as _uuid

    from herald.messaging import ledger
    from herald.models import Message

    campaign = _uuid.UUID(campaign_id)
    for email in ("x@gmail.com", "y@gmail.com"):
        apply_send(database, org, client, Send(email, email, "campaign", campaign, email))
    with database.transaction() as session:
        sent = session.scalars(sa.select(Message).where(Message.org_id == org.org_id)).all()
        for message, urls in zip(
            sent,
            (
                ["https://a.example/", "https://a.example/"],
                ["https://a.example/", "https://b.example/"],
            ),
            strict=True,
        ):
            for url in urls:
                ledger.record_event(session, message, "clicked", data={"url": url})
    links = get(client, org, f"campaigns/{campaign_id}/links")
    assert links["data"] == [
        {"url": "https://a.example/", "clicks": 3, "people": 2, "messages": 2},
        {"url": "https://b.example/", "clicks": 1, "people": 1, "messages": 1},
    ]
    segment_report = get(client, org, f"segments/{segment.json()['id']}")
    assert segment_report["name"] == "Gmail" and len(segment_report["sizes"]) == 30

    intruder = make_org("Intruder")
    assert_isolated(
        client,
        org,
        intruder,
        campaign_id,
        [
            Endpoint("GET", "/api/analytics/campaigns/{id}/links"),
            Endpoint("GET", "/api/analytics/segments/{id}"),
        ],
        Endpoint("GET", "/api/analytics/campaigns/{id}/links"),
    )
    assert_isolated(
        client,
        org,
        intruder,
        segment.json()["id"],
        [Endpoint("GET", "/api/analytics/segments/{id}")],
        Endpoint("GET", "/api/analytics/segments/{id}"),
    )
    assert_management_only(
        client,
        org,
        campaign_id,
        [
            Endpoint("GET", "/api/analytics/campaigns/{id}/links"),
            Endpoint("GET", "/api/analytics/overview"),
        ],
    )
    # The intruder's own reports show none of the first organization's figures.
    assert get(client, intruder, "overview")["attributed_revenue"] == 0.0
    assert get(client, intruder, "sources")["data"] == []


def test_rebuild_command_restores_the_rollups(
    client: TestClient, database: Database, backend: Backend
) -> None:
    org = make_org()
    send = Send("r", "r@gmail.com", "campaign", CAMPAIGN, "r@gmail.com")
    apply_send(database, org, client, send)
    apply(database, org, client, Happening("sent", "sent", utcnow() - timedelta(days=1), key="r"))
    drain(database)
    with database.transaction() as session:
        session.execute(sa.delete(MessageHour).where(MessageHour.org_id == org.org_id))
    assert get(client, org, "overview")["totals"]["sent"] == 0
    day = utcnow().date()
    env = {
        **os.environ,
        "HERALD_DATABASE_URL": backend.database_url,
        "HERALD_SECRET_KEY": secrets.token_urlsafe(32),
        "HERALD_DATA_DIR": str(backend.data_dir),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "herald",
            "analytics",
            "rebuild",
            "--from",
            str(day - timedelta(days=2)),
            "--to",
            str(day),
            "--org",
            str(org.org_id),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Recomputed 72 hours." in result.stderr
    assert get(client, org, "overview")["totals"]["sent"] == 1
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "herald",
            "analytics",
            "rebuild",
            "--from",
            str(day),
            "--to",
            str(day - timedelta(days=1)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode == 2 and "--from is after --to" in refused.stderr
