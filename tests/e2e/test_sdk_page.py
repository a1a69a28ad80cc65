"""/sdk.js on a website of another origin, in a real browser: calls queued before it loads run,
the anonymous id lives in the site's storage, and identifying merges the visitor's anonymous
activity into their profile.

The "shop" is a real HTTP server on another loopback port: another origin, as a customer's site
is. (A page Playwright fakes for a made-up host would count as public, and Chromium keeps public
pages away from loopback addresses.)
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.helpers import find_profile, timeline_names, unique_email

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Tea shop</title>
<script>
  window.herald = window.herald || [];
  ["init", "identify", "track", "page", "reset"].forEach(function (m) {
    herald[m] = herald[m] || function () { herald.push([m].concat([].slice.call(arguments))); };
  });
  herald.page();
  herald.track("Viewed Product", {sku: SKU}, {value: 12.5});
</script>
<script async src="HERALD/sdk.js" data-key="KEY"></script>
</head><body><h1>Tea shop</h1></body></html>
"""


class Shop:
    def __init__(self) -> None:
        self.html = "<!doctype html><title>Shop</title>"
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = shop.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self, page, html: str, path: str = "/") -> None:
        self.html = html
        # The page fixture aborts requests to other hosts; a page route for the shop wins.
        page.route(f"{self.url}/**", lambda route: route.continue_())
        page.goto(self.url + path)


@pytest.fixture
def shop() -> Iterator[Shop]:
    shop = Shop()
    try:
        yield shop
    finally:
        shop.server.shutdown()
        shop.server.server_close()


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


def test_anonymous_visit_then_identify_merges_into_the_known_profile(
    page, herald_server, new_org, shop
) -> None:
    org = new_org("SDK shop")
    base = herald_server.base_url
    email = unique_email("visitor")
    sku = f"TEA-{secrets.token_hex(3)}"
    # The person is already known (say, from an import) before they visit the site.
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {org.secret_key}"}, timeout=10
    ) as client:
        known = client.post("/api/profiles", json={"email": email, "first_name": "Ada"})
        assert known.status_code == 201, known.text
        known_id = known.json()["id"]

        def anonymous_events() -> list[dict]:
            events = client.get("/api/events", params={"limit": 100}).json()["data"]
            return [
                e for e in events if e["properties"].get("sku") == sku or e["name"] == "Viewed Page"
            ]

        html = (
            PAGE.replace("SKU", json.dumps(sku))
            .replace("HERALD", base)
            .replace("KEY", org.public_key)
        )
        shop.open(page, html, "/products/tea")
        page.wait_for_function("() => window.herald && window.herald.__herald")
        anonymous_id = page.evaluate("() => window.localStorage.getItem('herald_anonymous_id')")
        assert anonymous_id and anonymous_id == page.evaluate("() => herald.anonymousId()")

        # The calls made before sdk.js loaded arrive, on an anonymous profile.
        events = wait_for(lambda: len(anonymous_events()) == 2 and anonymous_events())
        assert {e["name"] for e in events} == {"Viewed Page", "Viewed Product"}
        (viewed_page,) = [e for e in events if e["name"] == "Viewed Page"]
        assert viewed_page["properties"]["url"] == f"{shop.url}/products/tea"
        assert viewed_page["properties"]["title"] == "Tea shop"
        assert viewed_page["unique_id"]  # every call carries one, so a retry is stored once
        anonymous_profile = viewed_page["profile_id"]
        assert anonymous_profile != known_id

        # Identify: the answer is readable across origins (CORS) and reports the merge.
        result = page.evaluate(
            "email => herald.identify({email: email, last_name: 'Lovelace', plan: 'pro'})",
            email,
        )
        assert result is not None, "the identify answer was not readable from the shop's origin"
        assert result["profile_id"] == known_id
        assert result["merged_profile_ids"] == [anonymous_profile]

        # Later events from the same browser land on the known profile too.
        tracked = page.evaluate("() => herald.track('Added to Cart', {sku: 'TEA-2'})")
        assert tracked is not None and tracked["profile_id"] == known_id

    profile = find_profile(base, org.secret_key, email)
    assert profile["id"] == known_id
    assert profile["last_name"] == "Lovelace"
    assert profile["properties"] == {"plan": "pro"}
    assert sorted(timeline_names(base, org.secret_key, known_id)) == [
        "Added to Cart",
        "Viewed Page",
        "Viewed Product",
    ]


def test_the_anonymous_id_survives_a_reload_and_reset_replaces_it(
    page, herald_server, new_org, shop
) -> None:
    org = new_org("SDK reload shop")
    html = (
        "<!doctype html><title>Shop</title>"
        f'<script src="{herald_server.base_url}/sdk.js" data-key="{org.public_key}"></script>'
    )
    shop.open(page, html)
    first = page.evaluate("() => herald.anonymousId()")
    page.reload()
    assert page.evaluate("() => herald.anonymousId()") == first
    page.evaluate("() => herald.reset()")
    assert page.evaluate("() => herald.anonymousId()") != first


def test_a_revoked_key_is_refused_and_reported_in_the_console(
    page, herald_server, new_org, shop
) -> None:
    org = new_org("SDK refused shop")
    with httpx.Client(
        base_url=herald_server.base_url,
        headers={"Authorization": f"Bearer {org.secret_key}"},
        timeout=10,
    ) as client:
        keys = client.get("/api/api-keys").json()["data"]
        (public,) = [k for k in keys if k["kind"] == "public"]
        assert client.delete(f"/api/api-keys/{public['id']}").status_code == 200
    html = (
        "<!doctype html><title>Shop</title>"
        f'<script src="{herald_server.base_url}/sdk.js" data-key="{org.public_key}"></script>'
    )
    warnings: list[str] = []
    page.on("console", lambda message: warnings.append(message.text))
    shop.open(page, html)
    assert page.evaluate("() => herald.track('Viewed Product')") is None
    assert any("invalid or revoked API key" in w for w in warnings), warnings
