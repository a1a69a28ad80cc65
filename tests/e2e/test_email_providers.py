"""Settings → Email, delivery: the provider list with its health, check connection (a relay
that cannot be reached is reported there), the add form's field errors, a test email, and the
SPF/DMARC guidance for the sender's domain and its DNS check."""

from __future__ import annotations

import re
import socket

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import api, field, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]


def test_provider_list_check_connection_and_test_email(
    page, herald_server, new_org, screenshot
) -> None:
    org = new_org("Provider shop")
    with api(herald_server.base_url, org.secret_key) as client:
        body = {"default_from_email": "hello@shop.example", "postal_address": "1 Main St"}
        assert client.put("/api/email/settings", json=body).status_code == 200
    sign_in(page, org.email, org.password)
    page.goto("/settings/email")
    providers = page.get_by_role("region", name="Providers and failover")
    expect(providers.get_by_text("No providers listed.")).to_be_visible()
    expect(page.get_by_test_id("dns-guidance")).to_contain_text("_dmarc.shop.example")

    adding = page.get_by_role("form", name="Add a provider")
    # The API's reasons land under the inputs they are about.
    adding.get_by_role("combobox", name="Kind").click()
    page.get_by_role("option", name="Amazon SES").click()
    field(adding, "Label").fill("SES")
    field(adding, "Region").fill("moon-1")
    adding.get_by_role("button", name="Add provider").click()
    expect(adding.get_by_text(re.compile("should match pattern"))).to_be_visible()

    # An SMTP relay on a port where nothing listens: added, then reported by its check.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adding.get_by_role("combobox", name="Kind").click()
    page.get_by_role("option", name="SMTP").click()
    field(adding, "Label").fill("Office relay")
    field(adding, "Host").fill("127.0.0.1")
    field(adding, "Port").fill(str(port))
    adding.get_by_role("button", name="Add provider").click()
    row = page.get_by_test_id("provider-Office relay")
    expect(row).to_contain_text("healthy")
    row.get_by_role("button", name="Check connection").click()
    expect(page.get_by_text("Office relay: connection failed")).to_be_visible()
    expect(page.get_by_text(re.compile(f"cannot connect to 127.0.0.1:{port}"))).to_be_visible()

    # The outbox as the first choice: its check passes and a test email goes through it.
    adding.get_by_role("combobox", name="Kind").click()
    page.get_by_role("option", name=re.compile("^Outbox")).click()
    field(adding, "Label").fill("Local box")
    adding.get_by_role("button", name="Add provider").click()
    outbox_row = page.get_by_test_id("provider-Local box")
    outbox_row.get_by_role("button", name="Check connection").click()
    expect(page.get_by_text("Local box: connection works")).to_be_visible()
    screenshot(page, "settings-email-providers")

    # Reorder through the API (the relay last) and send a test email through the list.
    with api(herald_server.base_url, org.secret_key) as client:
        listed = client.get("/api/email/providers").json()["data"]
        relay = next(p for p in listed if p["label"] == "Office relay")
        update = {"label": "Office relay", "position": 9, "config": relay["config"]}
        assert client.put(f"/api/email/providers/{relay['id']}", json=update).status_code == 200
    testing = page.get_by_role("form", name="Send a test email")
    field(testing, "To").fill("me@example.com")
    testing.get_by_role("button", name="Send test email").click()
    expect(
        page.get_by_text(re.compile("Test email (sent|queued) to me@example.com"))
    ).to_be_visible()
    expect(page.get_by_text("Nothing sent in this window yet.")).to_be_visible()

    # The DNS check: shop.example publishes nothing (the tests' DNS server knows no name), so
    # each record is missing, with the value to publish.
    guidance = page.get_by_test_id("dns-guidance")
    guidance.get_by_role("button", name="Check DNS").click()
    results = page.get_by_test_id("dns-results")
    expect(results).to_contain_text("TXT at _dmarc.shop.example")
    expect(results.get_by_text("Missing").first).to_be_visible()
    expect(results).to_contain_text("v=DMARC1; p=none; rua=mailto:dmarc@shop.example")
    screenshot(page, "settings-email-dns-check")
