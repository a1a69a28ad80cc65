"""The pages a fresh install serves before the dashboard is built, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DASHBOARD_BUILT = (Path(__file__).resolve().parents[2] / "herald/static/index.html").exists()


@pytest.mark.skipif(DASHBOARD_BUILT, reason="the built dashboard replaces the placeholder page")
def test_placeholder_page_links_to_the_api_docs(page, screenshot) -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    assert page.title() == "Herald"
    assert page.locator("h1").inner_text() == "Herald is running"
    link = page.get_by_role("link", name="interactive API documentation")
    assert link.get_attribute("href") == "/docs"
    screenshot(page, "placeholder")

    link.click()
    page.wait_for_url("**/docs")
    assert "Herald" in page.title()


def test_client_side_routes_get_the_same_page(page) -> None:
    page.goto("/")
    home_title = page.title()
    # Any non-API path answers with the same page (the dashboard's router takes it from there)...
    response = page.goto("/campaigns/some-id")
    assert response is not None and response.status == 200
    assert page.title() == home_title
    # ...but API paths never do.
    response = page.goto("/api/no-such-thing")
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("application/json")


def test_api_docs_render_without_internet(page, screenshot) -> None:
    """Swagger UI comes from Herald itself: the page fixture aborts requests to any other host."""
    response = page.goto("/docs")
    assert response is not None and response.status == 200
    assert page.title() == "Herald API"
    title = page.locator(".swagger-ui .info .title")
    title.wait_for(timeout=10_000)
    assert "Herald" in title.inner_text()
    # Every operation the server has is listed.
    assert page.locator(".opblock").count() >= 5
    screenshot(page, "docs")


def test_session_cookie_signs_in_the_browser(signed_in_page, herald_server) -> None:
    me = signed_in_page.request.get("/api/me")
    assert me.status == 200, me.text()
    body = me.json()
    assert (body["kind"], body["user"]["email"]) == ("user", herald_server.email)
    assert body["organization"]["id"] == herald_server.org_id
    cookies = {c["name"]: c for c in signed_in_page.context.cookies()}
    assert cookies["herald_session"]["httpOnly"] is True
    assert cookies["herald_csrf"]["httpOnly"] is False  # the dashboard reads and echoes it
    assert cookies["herald_session"]["sameSite"] == "Lax"
