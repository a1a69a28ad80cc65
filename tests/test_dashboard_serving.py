"""How the built dashboard is served: files, client-side routes, caching, and nothing outside."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import herald.app


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (static / "assets" / "index-3f2a9c.js").write_text("console.log('app')")
    (static / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    monkeypatch.setattr(herald.app, "STATIC_DIR", static)
    return static


def test_hashed_assets_are_cached_for_good_and_the_page_is_not(
    client: TestClient, built: Path
) -> None:
    asset = client.get("/assets/index-3f2a9c.js")
    assert asset.status_code == 200 and asset.text == "console.log('app')"
    assert "immutable" in asset.headers["cache-control"]
    page = client.get("/")
    assert "dashboard" in page.text and page.headers["cache-control"] == "no-cache"
    icon = client.get("/favicon.svg")
    assert icon.status_code == 200 and "immutable" not in icon.headers.get("cache-control", "")


def test_client_side_routes_get_the_page_and_api_paths_do_not(
    client: TestClient, built: Path
) -> None:
    for path in ("/profiles", "/profiles/0196abcd", "/settings/api-keys"):
        response = client.get(path)
        assert response.status_code == 200 and "dashboard" in response.text, path
    assert client.get("/api/nothing-here").status_code == 404
    assert client.get("/v1/nothing-here").status_code == 404


def test_files_outside_the_build_are_never_served(client: TestClient, built: Path) -> None:
    for path in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        response = client.get(path)
        assert "outside the build" not in response.text, path
