"""Starter templates: each is listed, saves through POST /api/templates with the server's checks
(unsubscribe link and postal address included), renders with sample data, and stacks its
columns on phones."""

from __future__ import annotations

import typing

from fastapi.testclient import TestClient

from herald.templates.schemas import StarterKey
from herald.templates.starters import BY_KEY
from tests.factories import make_org

SAMPLE = {
    "profile": {"first_name": "Ada"},
    "event": {
        "items": [
            {
                "name": "Blue shoes",
                "quantity": 2,
                "price": 59.5,
                "image_url": "https://x.example/s.png",
            },
            {"name": "Socks", "quantity": 1, "price": 5},
        ],
        "value": 124,
        "currency": "EUR",
        "checkout_url": "https://shop.example/cart/42",
    },
    "data": {
        "order_id": "A-1001",
        "items": [{"name": "Blue shoes", "quantity": 2, "price": 59.5}],
        "total": 119,
        "currency": "EUR",
        "shipping_address": "1 Main St",
    },
}


def test_every_starter_is_listed_and_the_schema_names_them() -> None:
    assert set(typing.get_args(StarterKey)) == set(BY_KEY)


def test_each_starter_saves_and_renders(client: TestClient) -> None:
    org = make_org()
    starters = client.get("/api/templates/starters", headers=org.secret_headers)
    assert starters.status_code == 200, starters.text
    listed = starters.json()["data"]
    assert [s["key"] for s in listed] == list(BY_KEY)
    for starter in listed:
        assert starter["mjml"].lstrip().startswith("<mjml>")
        created = client.post(
            "/api/templates",
            json={"starter": starter["key"], "name": starter["name"]},
            headers=org.secret_headers,
        )
        assert created.status_code == 201, (starter["key"], created.text)
        template = created.json()
        assert template["body"] == starter["mjml"] and template["kind"] == starter["kind"]
        assert template["subject"] == starter["subject"]
        html = template["compiled_html"]
        # 600 px on wide screens; below MJML's 480 px breakpoint columns take the full width.
        assert "max-width:600px" in html.replace(" ", "")
        assert "@media only screen and (min-width:480px)" in html
        preview = client.post(
            f"/api/templates/{template['id']}/preview",
            json={"sample": SAMPLE},
            headers=org.secret_headers,
        )
        assert preview.status_code == 200, preview.text
        rendered = preview.json()["html"]
        assert "{{" not in rendered and "{%" not in rendered
        if starter["key"] != "order_confirmation":
            assert "Ada" in rendered or "Ada" in preview.json()["subject"]
        assert "#unsubscribe" in rendered


def test_abandoned_cart_shows_the_events_items_safely(client: TestClient) -> None:
    org = make_org()
    created = client.post(
        "/api/templates",
        json={"starter": "abandoned_cart", "name": "Cart"},
        headers=org.secret_headers,
    ).json()
    hostile = {
        "event": {
            "items": [{"name": "<script>alert(1)</script>", "quantity": 3, "price": 2}],
            "value": 6,
            "currency": "EUR",
            "checkout_url": "https://shop.example/cart/42",
        }
    }
    html = client.post(
        f"/api/templates/{created['id']}/preview",
        json={"sample": hostile},
        headers=org.secret_headers,
    ).json()["html"]
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "https://shop.example/cart/42" in html and "\u00d7 3" in html and "€6.00" in html
    # Without any event data it still renders: a friendly line instead of items.
    empty = client.post(
        f"/api/templates/{created['id']}/preview", json={}, headers=org.secret_headers
    ).json()["html"]
    assert "Your items are waiting for you." in empty


def test_starter_fields_can_be_overridden_and_bad_keys_refused(client: TestClient) -> None:
    org = make_org()
    created = client.post(
        "/api/templates",
        json={"starter": "welcome", "name": "Hi", "subject": "Hello!"},
        headers=org.secret_headers,
    )
    assert created.status_code == 201 and created.json()["subject"] == "Hello!"
    bad = client.post(
        "/api/templates", json={"starter": "nope", "name": "x"}, headers=org.secret_headers
    )
    assert bad.status_code == 422
    assert "starter" in [f["field"] for f in bad.json()["error"]["fields"]]
    missing = client.post("/api/templates", json={"name": "x"}, headers=org.secret_headers)
    assert missing.status_code == 422
    assert {f["field"] for f in missing.json()["error"]["fields"]} == {"subject"}
