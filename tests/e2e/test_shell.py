"""How Herald serves the dashboard: client-side routes, the API docs, the session cookies, and the
placeholder page of an install whose dashboard is not built."""

from __future__ import annotations

from pathlib import Path

import pytest

import herald.app

pytestmark = pytest.mark.e2e


@pytest.mark.usefixtures("dashboard_build")
def test_client_side_routes_get_the_dashboard(page) -> None:
    home = page.goto("/")
    assert home is not None and home.status == 200
    index = home.text()
    assert '<div id="root">' in index
    # Any non-API path answers with the same page (the dashboard's router takes it from there)...
    response = page.goto("/campaigns/some-id")
    assert response is not None and response.status == 200
    assert response.text() == index
    assert response.headers["cache-control"] == "no-cache"
    # ...but API paths never do.
    response = page.goto("/api/no-such-thing")
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.usefixtures("dashboard_build")
def test_signed_out_visitors_are_sent_to_sign_in(page, screenshot) -> None:
    page.goto("/profiles?q=ada")
    page.wait_for_url("**/sign-in?next=*")
    assert "next=%2Fprofiles%3Fq%3Dada" in page.url
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.title() == "Sign in · Herald"
    screenshot(page, "sign-in")


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


def test_without_a_build_a_placeholder_page_links_to_the_api_docs(
    client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(herald.app, "STATIC_DIR", tmp_path / "static")
    response = client.get("/segments")
    assert response.status_code == 200
    assert "<h1>Herald is running</h1>" in response.text
    assert 'href="/docs"' in response.text
    assert "make run" in response.text
