"""The home overview and the Analytics area in Chromium: with seeded campaigns, a flow and orders,
the home page's revenue equals the sum of the campaign and flow tables, and a new date range
updates the charts."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from herald.db import Database, utcnow
from herald.messaging import ledger
from herald.messaging import service as messages
from tests.e2e.helpers import api, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]

RAW = messages.RawContent(subject="Hi", html="<p>Hi</p>")


def _money(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def test_home_revenue_equals_the_campaign_and_flow_tables(
    page: Any, herald_server: Any, new_org: Any, screenshot: Any
) -> None:
    org = new_org("Analytics shop")
    client = api(herald_server.base_url, org.secret_key)
    spring = client.post("/api/campaigns", json={"name": "Spring sale"}).json()["id"]
    summer = client.post("/api/campaigns", json={"name": "Summer sale"}).json()["id"]
    flow = client.post(
        "/api/flows/from-template", json={"template": "welcome_series", "name": "Welcome"}
    )
    assert flow.status_code == 201, flow.text
    flow_id = flow.json()["id"]
    people = {f"{name}-{uuid.uuid4().hex[:6]}@gmail.com": name for name in "abcd"}
    public = api(herald_server.base_url, org.public_key)
    for email in people:
        assert public.post("/api/identify", json={"email": email}).status_code == 200

    # Messages and their opens and clicks go through the ledger, as the senders' would; the
    # server's rollups pump picks up the hours they mark.
    database = Database(f"sqlite:///{herald_server.data_dir / 'herald.db'}")
    now = utcnow()
    sources = [("campaign", spring), ("campaign", summer), ("flow", flow_id), ("campaign", spring)]
    touched: list[tuple[str, datetime]] = []
    with database.transaction() as session:
        for (email, _name), (source, source_id), days_ago in zip(
            people.items(), sources, (2, 3, 1, 20), strict=True
        ):
            message = messages.queue_email(
                session,
                uuid.UUID(org.org_id),
                source=source,
                source_id=uuid.UUID(source_id),
                idempotency_key=f"e2e:{email}",
                to_address=email,
                raw=RAW,
                kick=False,
            )
            at = now - timedelta(days=days_ago)
            ledger.set_status(session, message, "sent", at=at)
            ledger.record_event(session, message, "clicked", at=at + timedelta(minutes=5))
            touched.append((email, at))
    for (email, at), value in zip(touched, (40.0, 25.5, 60.0, 15.0), strict=True):
        order = public.post(
            "/api/track",
            json={
                "event": "Placed Order",
                "profile": {"email": email},
                "value": value,
                "time": (at + timedelta(hours=1)).isoformat(),
            },
        )
        assert order.status_code == 202, order.text
    # The API's overview is ready once the pump has caught up.
    deadline = time.monotonic() + 60
    while client.get("/api/analytics/overview").json()["attributed_revenue"] != 140.5:
        assert time.monotonic() < deadline, client.get("/api/analytics/overview").text
        time.sleep(0.5)
    database.engine.dispose()

    sign_in(page, org.email, org.password)
    nav = page.get_by_role("navigation", name="Areas")
    # Events have arrived: the first-event entry has left the navigation.
    expect(nav.get_by_role("link", name="Send your first event")).to_have_count(0)
    nav.get_by_role("link", name="Overview").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    revenue = page.locator('[data-stat="Attributed revenue"]')
    expect(revenue).to_have_text(re.compile(r"140\.50"))
    home_revenue = _money(revenue.inner_text())
    best = page.get_by_role("table", name="Best campaigns")
    expect(best.get_by_role("link", name="Spring sale")).to_be_visible()
    screenshot(page, "home-overview")

    nav.get_by_role("link", name="Analytics").click()
    page.get_by_role("heading", name="Analytics", level=1).wait_for()
    tables_total = 0.0
    for title in ("Campaigns", "Flows"):
        table = page.get_by_role("table", name=title, exact=True)
        expect(table.locator('td[data-column="revenue"]').first).to_be_visible()
        cells = table.locator('td[data-column="revenue"]').all_inner_texts()
        tables_total += sum(_money(cell) for cell in cells)
    assert round(tables_total, 2) == home_revenue
    expect(
        page.get_by_role("table", name="Flows", exact=True).get_by_role("link", name="Welcome")
    ).to_be_visible()

    # 30 days hold every order; 7 days leave out the one from 20 days ago.
    chart = page.get_by_role("region", name="Attributed revenue")
    expect(chart).to_contain_text("140.50 in this period")
    page.locator("label", has_text="7 days").first.click()
    expect(chart).to_contain_text("125.50 in this period")
    # The chart's table view holds the same numbers; the export is offered beside it.
    chart.locator("label", has_text="Table").click()
    table_view = page.get_by_role("table", name="Attributed revenue (table)")
    expect(table_view.get_by_role("row")).to_have_count(8)  # a heading and seven days
    expect(chart.get_by_role("link", name="Export CSV")).to_be_visible()
    screenshot(page, "analytics")
