"""Segment-compatible ingestion under /v1/: the message mapping, identity, batches, credentials,
gzip, tenancy, and the official segment-analytics-python library against a real server."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from segment.analytics import Client

from tests.factories import OrgFixture, make_org
from tests.test_errors import assert_error_shape

VALID_PHONE = "+16502530000"


def basic(key: str) -> dict[str, str]:
    """How Segment's libraries send a write key: the HTTP Basic user, no password."""
    token = base64.b64encode(f"{key}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def list_profiles(client: TestClient, org: OrgFixture, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/profiles", params=params, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def list_events(client: TestClient, org: OrgFixture, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/events", params=params, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def post(
    client: TestClient, org: OrgFixture, path: str, body: Any, expect: int = 200
) -> dict[str, Any]:
    response = client.post(path, json=body, headers=basic(org.public_key))
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


# --- Mapping ------------------------------------------------------------------------------------


def test_identify_maps_traits_to_profile_fields(client: TestClient) -> None:
    org = make_org()
    body = post(
        client,
        org,
        "/v1/identify",
        {
            "userId": "user-1",
            "traits": {
                "email": "Ada@Example.com",
                "phone": VALID_PHONE,
                "firstName": "Ada",
                "last_name": "Lovelace",
                "address": {
                    "street": "1 Main St",
                    "city": "San Francisco",
                    "state": "CA",
                    "postalCode": 94107,
                    "country": "US",
                },
                "plan": "pro",
                "logins": 3,
            },
            "context": {"timezone": "America/Los_Angeles", "ip": "192.0.2.1"},
            "messageId": "identify-1",
        },
    )
    assert body["success"] is True
    assert body["created"] is True
    assert body["merged_profile_ids"] == []
    (profile,) = list_profiles(client, org, external_id="user-1")
    assert profile["id"] == body["profile_id"]
    assert profile["email"] == "ada@example.com"
    assert profile["phone"] == VALID_PHONE
    assert (profile["first_name"], profile["last_name"]) == ("Ada", "Lovelace")
    assert profile["timezone"] == "America/Los_Angeles"
    location = profile["location"]
    assert location["address1"] == "1 Main St"
    assert location["city"] == "San Francisco"
    assert location["region"] == "CA"
    assert location["zip"] == "94107"
    assert location["country"] == "US"
    assert profile["properties"] == {"plan": "pro", "logins": 3}
    assert profile["anonymous"] is False

    # A later identify changes what it sends and nothing else: a null trait does not clear an
    # identifier, and a time zone that is not an IANA name is left out rather than refused.
    again = post(
        client,
        org,
        "/v1/identify",
        {
            "userId": "user-1",
            "traits": {"email": None, "phone": "", "plan": "enterprise"},
            "context": {"timezone": "Mars/Olympus_Mons"},
        },
    )
    assert again["profile_id"] == body["profile_id"]
    assert again["created"] is False
    (profile,) = list_profiles(client, org, external_id="user-1")
    assert profile["email"] == "ada@example.com"
    assert profile["phone"] == VALID_PHONE
    assert profile["timezone"] == "America/Los_Angeles"
    assert profile["properties"] == {"plan": "enterprise", "logins": 3}


def test_track_maps_to_an_event(client: TestClient) -> None:
    org = make_org()
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    message = {
        "userId": "user-2",
        "event": "Order Completed",
        "properties": {"revenue": "39.95", "currency": "USD", "products": [{"sku": "A1"}]},
        "messageId": "msg-1",
        "timestamp": iso(when),
        "context": {"library": {"name": "curl"}},
        "integrations": {"All": True},
    }
    body = post(client, org, "/v1/track", message)
    assert body["success"] is True
    assert body["duplicate"] is False
    (event,) = list_events(client, org)
    assert event["id"] == body["event_id"]
    assert event["profile_id"] == body["profile_id"]
    assert event["name"] == "Order Completed"
    assert event["properties"] == message["properties"]
    assert event["value"] == pytest.approx(39.95)
    assert event["unique_id"] == "msg-1"
    assert event["source"] == "segment"
    assert datetime.fromisoformat(event["time"]) == when
    (profile,) = list_profiles(client, org, external_id="user-2")
    assert profile["id"] == body["profile_id"]

    # The same messageId again: answered with the first event, stored once.
    retry = post(client, org, "/v1/track", message)
    assert retry["duplicate"] is True
    assert retry["event_id"] == body["event_id"]
    assert len(list_events(client, org)) == 1

    # `value` stands in when `revenue` is missing or not a number.
    post(
        client,
        org,
        "/v1/track",
        {"userId": "user-2", "event": "Quote", "properties": {"revenue": "n/a", "value": 12}},
    )
    (quote,) = list_events(client, org, name="Quote")
    assert quote["value"] == 12
    assert quote["unique_id"] is None


def test_page_and_screen_become_viewed_events(client: TestClient) -> None:
    org = make_org()
    page = post(
        client,
        org,
        "/v1/page",
        {
            "anonymousId": "anon-1",
            "name": "Pricing",
            "category": "Docs",
            "properties": {"title": "Pricing | Acme"},
            "context": {
                "page": {
                    "url": "https://acme.test/pricing?x=1",
                    "path": "/pricing",
                    "search": "?x=1",
                    "referrer": "https://search.test/",
                    "title": "an older title",
                }
            },
        },
    )
    screen = post(
        client,
        org,
        "/v1/screen",
        {"userId": "user-3", "name": "Home", "properties": {"variant": "b"}},
    )
    (viewed_page,) = list_events(client, org, name="Viewed Page")
    assert viewed_page["id"] == page["event_id"]
    assert viewed_page["properties"] == {
        "title": "Pricing | Acme",
        "url": "https://acme.test/pricing?x=1",
        "path": "/pricing",
        "search": "?x=1",
        "referrer": "https://search.test/",
        "name": "Pricing",
        "category": "Docs",
    }
    (viewed_screen,) = list_events(client, org, name="Viewed Screen")
    assert viewed_screen["id"] == screen["event_id"]
    assert viewed_screen["properties"] == {"variant": "b", "name": "Home"}
    # The anonymous visitor has a profile of their own, reachable through the anonymous id.
    anonymous = [p for p in list_profiles(client, org) if p["anonymous"]]
    assert [p["id"] for p in anonymous] == [page["profile_id"]]


def test_group_is_kept_on_the_profile(client: TestClient) -> None:
    org = make_org()
    first = post(
        client, org, "/v1/group", {"userId": "user-4", "groupId": "acme", "traits": {"plan": "pro"}}
    )
    post(client, org, "/v1/group", {"userId": "user-4", "groupId": "acme", "traits": {"seats": 5}})
    post(client, org, "/v1/group", {"userId": "user-4", "groupId": 42})
    (profile,) = list_profiles(client, org, external_id="user-4")
    assert profile["id"] == first["profile_id"]
    assert profile["properties"] == {
        "groups": {"acme": {"plan": "pro", "seats": 5}, "42": {}},
    }


def test_original_timestamp_is_corrected_by_sent_at(client: TestClient) -> None:
    org = make_org()
    now = datetime.now(UTC)
    # A device whose clock runs an hour fast, sending ten seconds after the event.
    post(
        client,
        org,
        "/v1/track",
        {
            "userId": "user-5",
            "event": "Skewed",
            "originalTimestamp": iso(now + timedelta(hours=1) - timedelta(seconds=10)),
            "sentAt": iso(now + timedelta(hours=1)),
        },
    )
    (skewed,) = list_events(client, org, name="Skewed")
    stored = datetime.fromisoformat(skewed["time"])
    assert abs(stored - (now - timedelta(seconds=10))) < timedelta(seconds=5)

    # An explicit timestamp is taken as sent; one without a zone is UTC.
    explicit = (now - timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    post(
        client,
        org,
        "/v1/track",
        {
            "userId": "user-5",
            "event": "Explicit",
            "timestamp": explicit.isoformat(),
            "sentAt": iso(now + timedelta(hours=1)),
        },
    )
    (event,) = list_events(client, org, name="Explicit")
    assert datetime.fromisoformat(event["time"]) == explicit.replace(tzinfo=UTC)


# --- Identity -----------------------------------------------------------------------------------


def test_identify_merges_anonymous_activity_into_the_known_profile(client: TestClient) -> None:
    org = make_org()
    known = post(
        client, org, "/v1/identify", {"userId": "user-6", "traits": {"email": "six@example.com"}}
    )
    browsing = post(client, org, "/v1/track", {"anonymousId": "anon-6", "event": "Viewed Product"})
    assert browsing["profile_id"] != known["profile_id"]
    merged = post(
        client,
        org,
        "/v1/identify",
        {"userId": "user-6", "anonymousId": "anon-6", "traits": {"firstName": "Sam"}},
    )
    assert merged["profile_id"] == known["profile_id"]
    assert merged["merged_profile_ids"] == [browsing["profile_id"]]
    (profile,) = list_profiles(client, org)
    assert profile["id"] == known["profile_id"]
    assert profile["first_name"] == "Sam"
    (event,) = list_events(client, org)
    assert event["profile_id"] == known["profile_id"]
    # The anonymous profile's old id still answers with the survivor.
    response = client.get(f"/api/profiles/{browsing['profile_id']}", headers=org.secret_headers)
    assert response.json()["id"] == known["profile_id"]
    # Later anonymous events reach the known person.
    later = post(client, org, "/v1/page", {"anonymousId": "anon-6", "name": "Cart"})
    assert later["profile_id"] == known["profile_id"]


def test_alias_merges_the_previous_id_into_the_user(client: TestClient) -> None:
    org = make_org()
    old = post(client, org, "/v1/track", {"userId": "old-id", "event": "Old"})
    new = post(client, org, "/v1/track", {"userId": "new-id", "event": "New"})
    anonymous = post(client, org, "/v1/track", {"anonymousId": "anon-7", "event": "Browse"})
    aliased = post(client, org, "/v1/alias", {"previousId": "old-id", "userId": "new-id"})
    assert aliased["success"] is True
    assert aliased["profile_id"] == new["profile_id"]
    assert aliased["merged_profile_ids"] == [old["profile_id"]]
    # Without previousId, the anonymousId is the previous id.
    second = post(client, org, "/v1/alias", {"anonymousId": "anon-7", "userId": "new-id"})
    assert second["merged_profile_ids"] == [anonymous["profile_id"]]
    (profile,) = list_profiles(client, org)
    assert profile["id"] == new["profile_id"]
    assert profile["external_id"] == "new-id"
    assert {e["profile_id"] for e in list_events(client, org)} == {new["profile_id"]}
    # An alias sent twice changes nothing more.
    again = post(client, org, "/v1/alias", {"previousId": "old-id", "userId": "new-id"})
    assert again["profile_id"] == new["profile_id"]
    assert again["merged_profile_ids"] == []


def test_identify_that_would_join_two_known_people_is_a_conflict(client: TestClient) -> None:
    org = make_org()
    post(client, org, "/v1/identify", {"userId": "a", "traits": {"email": "a@example.com"}})
    post(client, org, "/v1/identify", {"userId": "b", "traits": {"email": "b@example.com"}})
    body = post(
        client,
        org,
        "/v1/identify",
        {"userId": "a", "traits": {"email": "b@example.com"}},
        expect=409,
    )
    assert_error_shape(body, "conflict")
    fields = {f["field"] for f in body["error"]["fields"]}
    assert fields and fields <= {"userId", "traits.email"}
    emails = sorted(p["email"] for p in list_profiles(client, org))
    assert emails == ["a@example.com", "b@example.com"]


# --- Batches ------------------------------------------------------------------------------------


def test_batch_applies_in_order_and_a_retry_stores_each_event_once(client: TestClient) -> None:
    org = make_org()
    sent_at = iso(datetime.now(UTC))
    batch = {
        "batch": [
            {"type": "track", "anonymousId": "anon-8", "event": "Browse", "messageId": "b-0"},
            {
                "type": "identify",
                "userId": "user-8",
                "anonymousId": "anon-8",
                "traits": {"email": "eight@example.com"},
                "messageId": "b-1",
            },
            {"type": "track", "userId": "user-8", "event": "Signed Up", "messageId": "b-2"},
            {"type": "page", "userId": "user-8", "name": "Welcome", "messageId": "b-3"},
            {"type": "screen", "userId": "user-8", "name": "Home", "messageId": "b-4"},
            {"type": "group", "userId": "user-8", "groupId": "acme", "messageId": "b-5"},
            {"type": "alias", "previousId": "legacy-8", "userId": "user-8", "messageId": "b-6"},
        ],
        "sentAt": sent_at,
        "context": {"library": {"name": "test"}},
    }
    first = post(client, org, "/v1/batch", batch)
    assert first["success"] is True
    assert first["errors"] == []
    assert (first["accepted"], first["duplicates"]) == (7, 0)
    assert [r["type"] for r in first["results"]] == [
        "track",
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    ]
    profile_ids = {r["profile_id"] for r in first["results"]}
    assert len(profile_ids) == 1
    assert first["results"][1]["event_id"] is None

    retry = post(client, org, "/v1/batch", batch)
    assert retry["errors"] == []
    event_results = [r for r in retry["results"] if r["event_id"] is not None]
    assert all(r["duplicate"] for r in event_results)
    assert retry["duplicates"] == 4
    by_index = {r["index"]: r["event_id"] for r in first["results"]}
    assert all(r["event_id"] == by_index[r["index"]] for r in event_results)

    stored = list_events(client, org)
    assert sorted(e["unique_id"] for e in stored) == ["b-0", "b-2", "b-3", "b-4"]
    assert {e["profile_id"] for e in stored} == profile_ids
    (profile,) = list_profiles(client, org)
    assert profile["external_id"] == "user-8"
    assert profile["properties"] == {"groups": {"acme": {}}}


def test_batch_reports_bad_messages_by_index_and_stores_the_rest(client: TestClient) -> None:
    org = make_org()
    long_ago = "1990-01-01T00:00:00Z"
    body = post(
        client,
        org,
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "userId": "good", "event": "Fine", "messageId": "g-0"},
                {"type": "track", "userId": "bad"},
                {"type": "bogus", "userId": "bad"},
                "not a message",
                {"type": "identify", "userId": "bad", "traits": {"email": "not-an-email"}},
                {"type": "track", "event": "Nobody"},
                {"type": "page", "userId": "good", "name": "Fine", "messageId": "g-6"},
                {"type": "track", "userId": "bad", "event": "Old", "timestamp": long_ago},
                {"type": "group", "userId": "bad"},
                {"type": "alias", "userId": "bad"},
            ]
        },
    )
    assert body["success"] is False
    assert [r["index"] for r in body["results"]] == [0, 6]
    assert body["accepted"] == 2
    errors = [(e["index"], e["field"]) for e in body["errors"]]
    assert errors == [
        (1, "batch[1].event"),
        (2, "batch[2].type"),
        (3, "batch[3]"),
        (4, "batch[4].traits.email"),
        (5, "batch[5].userId"),
        (7, "batch[7].timestamp"),
        (8, "batch[8].groupId"),
        (9, "batch[9].previousId"),
    ]
    assert all(set(e) == {"index", "field", "reason"} and e["reason"] for e in body["errors"])
    assert sorted(e["unique_id"] for e in list_events(client, org)) == ["g-0", "g-6"]
    assert list_profiles(client, org, external_id="bad") == []


def test_batch_envelope_errors(client: TestClient) -> None:
    org = make_org()
    for envelope, field in (
        ({"batch": []}, "batch"),
        ({"messages": []}, "batch"),
        ({"batch": [], "sentAt": "yesterday"}, "batch"),
        ("just text", "body"),
    ):
        body = post(client, org, "/v1/batch", envelope, expect=422)
        assert_error_shape(body, "invalid")
        assert field in {f["field"] for f in body["error"]["fields"]}, envelope
    # A bare array of messages is a batch too, and so is a single message with its type (as
    # Segment's webhook destinations post them), so that one URL takes every kind of message.
    body = post(client, org, "/v1/batch", [{"type": "track", "userId": "u", "event": "E"}])
    assert body["accepted"] == 1
    forwarded = {
        "type": "identify",
        "userId": "u",
        "traits": {"email": "u@example.com"},
        "receivedAt": iso(datetime.now(UTC)),
        "channel": "server",
        "version": 2,
    }
    body = post(client, org, "/v1/batch", forwarded)
    assert (body["accepted"], body["results"][0]["type"]) == (1, "identify")
    (profile,) = list_profiles(client, org)
    assert profile["email"] == "u@example.com"


def test_a_bad_single_message_is_a_4xx_and_changes_nothing(client: TestClient) -> None:
    org = make_org()
    for path, message, field in (
        ("/v1/track", {"userId": "u"}, "event"),
        ("/v1/track", {"event": "E"}, "userId"),
        ("/v1/track", {"userId": "u", "event": "E", "properties": "no"}, "properties"),
        ("/v1/page", {"userId": "u", "timestamp": "not a time"}, "timestamp"),
        ("/v1/identify", {"userId": "u", "traits": {"email": "nope"}}, "traits.email"),
        ("/v1/identify", {"userId": "u", "traits": {"phone": "12"}}, "traits.phone"),
        ("/v1/identify", {"userId": "u" * 300}, "userId"),
        ("/v1/group", {"userId": "u"}, "groupId"),
        ("/v1/alias", {"userId": "u"}, "previousId"),
        ("/v1/screen", ["not", "an", "object"], "body"),
    ):
        body = post(client, org, path, message, expect=422)
        assert_error_shape(body, "invalid")
        assert [f["field"] for f in body["error"]["fields"]] == [field], (path, message)
    response = client.post(
        "/v1/track",
        content=b"{not json",
        headers={**basic(org.public_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert_error_shape(response.json(), "invalid")
    assert list_events(client, org) == []
    assert list_profiles(client, org) == []


# --- Transport: gzip, credentials, browsers -----------------------------------------------------


def test_gzip_bodies_are_accepted(client: TestClient) -> None:
    org = make_org()
    batch = {
        "batch": [
            {"type": "identify", "userId": "zip", "traits": {"email": "zip@example.com"}},
            {"type": "track", "userId": "zip", "event": "Zipped", "messageId": "z-1"},
        ]
    }
    response = client.post(
        "/v1/batch",
        content=gzip.compress(json.dumps(batch).encode()),
        headers={
            **basic(org.public_key),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    response = client.post(
        "/v1/track",
        content=gzip.compress(json.dumps({"userId": "zip", "event": "Single"}).encode()),
        headers={**basic(org.public_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert sorted(e["name"] for e in list_events(client, org)) == ["Single", "Zipped"]

    response = client.post(
        "/v1/track",
        content=b"certainly not gzip",
        headers={**basic(org.public_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 422
    assert_error_shape(response.json(), "invalid")
    response = client.post(
        "/v1/track",
        content=b"{}",
        headers={**basic(org.public_key), "Content-Encoding": "br"},
    )
    assert response.status_code == 415
    assert_error_shape(response.json(), "unsupported_media_type")


def test_gzip_bodies_may_not_grow_past_the_limit(client: TestClient) -> None:
    org = make_org()
    padding = "x" * (6 * 1024 * 1024)
    bomb = gzip.compress(json.dumps({"userId": "u", "event": "E", "p": padding}).encode())
    assert len(bomb) < 1024 * 1024
    response = client.post(
        "/v1/batch",
        content=bomb,
        headers={**basic(org.public_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert_error_shape(response.json(), "too_large")


def test_credentials(client: TestClient) -> None:
    org = make_org()
    message = {"userId": "u", "event": "E"}
    for headers in ({}, basic("pk_not_a_real_key"), {"Authorization": "Bearer pk_nope"}):
        response = client.post("/v1/track", json=message, headers=headers)
        assert response.status_code == 401, headers
        assert_error_shape(response.json(), "not_authenticated")
    response = client.post("/v1/track", json={**message, "writeKey": "pk_not_a_real_key"})
    assert response.status_code == 401
    assert_error_shape(response.json(), "not_authenticated")
    # Credentials are checked before the body is judged.
    response = client.post("/v1/track", content=b"{not json", headers=basic("pk_nope"))
    assert response.status_code == 401

    # The body's writeKey when there is no header, a bearer token, the secret key.
    response = client.post("/v1/track", json={**message, "writeKey": org.public_key})
    assert response.status_code == 200, response.text
    assert client.post("/v1/track", json=message, headers=org.public_headers).status_code == 200
    assert client.post("/v1/track", json=message, headers=basic(org.secret_key)).status_code == 200
    assert len(list_events(client, org)) == 3


def test_analytics_js_style_requests(client: TestClient) -> None:
    """analytics.js posts text/plain JSON with the writeKey inside, to one-letter paths."""
    org = make_org()
    message = {
        "type": "track",
        "event": "Clicked",
        "anonymousId": "browser-1",
        "messageId": "ajs-1",
        "writeKey": org.public_key,
        "sentAt": iso(datetime.now(UTC)),
        "timestamp": iso(datetime.now(UTC)),
    }
    response = client.post(
        "/v1/t",
        content=json.dumps(message),
        headers={"Content-Type": "text/plain", "Origin": "https://shop.test"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["success"] is True
    (event,) = list_events(client, org)
    assert event["unique_id"] == "ajs-1"

    preflight = client.options(
        "/v1/batch",
        headers={"Origin": "https://shop.test", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    short = client.options(
        "/v1/t", headers={"Origin": "https://shop.test", "Access-Control-Request-Method": "POST"}
    )
    assert short.status_code == 204
    # Only the Segment paths are taken: anything else under /v1/ is still a 404.
    response = client.post("/v1/no-such-call", json={}, headers=basic(org.public_key))
    assert response.status_code == 404
    assert_error_shape(response.json(), "not_found")


def test_messages_land_in_the_key_s_organization_only(client: TestClient) -> None:
    org_a = make_org("A")
    org_b = make_org("B")
    a = post(client, org_a, "/v1/identify", {"userId": "shared", "traits": {"plan": "a"}})
    post(client, org_a, "/v1/track", {"userId": "shared", "event": "Only A"})
    assert list_profiles(client, org_b) == []
    assert list_events(client, org_b) == []
    response = client.get(f"/api/profiles/{a['profile_id']}", headers=org_b.secret_headers)
    assert response.status_code == 404

    # The same userId in another organization is another person.
    b = post(client, org_b, "/v1/identify", {"userId": "shared", "traits": {"plan": "b"}})
    assert b["profile_id"] != a["profile_id"]
    assert b["created"] is True
    # The header's key decides; a writeKey in the body does not redirect the message.
    response = client.post(
        "/v1/track",
        json={"userId": "shared", "event": "Header wins", "writeKey": org_b.public_key},
        headers=basic(org_a.public_key),
    )
    assert response.status_code == 200
    assert sorted(e["name"] for e in list_events(client, org_a)) == ["Header wins", "Only A"]
    assert list_events(client, org_b) == []
    (profile_a,) = list_profiles(client, org_a)
    (profile_b,) = list_profiles(client, org_b)
    assert profile_a["properties"] == {"plan": "a"}
    assert profile_b["properties"] == {"plan": "b"}


# --- The official library against a real server -------------------------------------------------


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive()


def test_official_segment_library_against_a_running_server(live_server: str) -> None:
    org = make_org()
    failures: list[Exception] = []

    # Blocking mode: each call is one POST /v1/batch, with the key as the Basic user.
    analytics = Client(write_key=org.public_key, host=live_server, sync_mode=True)
    analytics.track(
        anonymous_id="anon-lib", event="Viewed Product", properties={"sku": "A1"}, message_id="l-1"
    )
    analytics.page(
        anonymous_id="anon-lib",
        name="Pricing",
        category="Docs",
        properties={"url": "https://acme.test/pricing"},
    )
    analytics.track(user_id="legacy-lib", event="Old Account Event", message_id="l-2")
    analytics.identify(
        user_id="lib-user",
        anonymous_id="anon-lib",
        traits={"email": "lib@example.com", "firstName": "Libby", "plan": "pro"},
    )
    analytics.track(
        user_id="lib-user", event="Order Completed", properties={"revenue": 42.5}, message_id="l-3"
    )
    analytics.track(  # the same messageId again: stored once
        user_id="lib-user", event="Order Completed", properties={"revenue": 42.5}, message_id="l-3"
    )
    analytics.alias(previous_id="legacy-lib", user_id="lib-user")
    analytics.group(user_id="lib-user", group_id="acme", traits={"plan": "team"})
    analytics.screen(user_id="lib-user", name="Settings")

    # Queued mode, gzip-compressed: batches sent by the consumer thread, then flushed.
    queued = Client(
        write_key=org.public_key,
        host=live_server,
        gzip=True,
        max_retries=1,
        upload_interval=0.05,
        on_error=lambda error, _batch: failures.append(error),
    )
    for n in range(5):
        queued.track(user_id="lib-user", event="Queued", properties={"n": n}, message_id=f"q-{n}")
    queued.track(  # a retry of a message the blocking client sent
        user_id="lib-user", event="Order Completed", properties={"revenue": 42.5}, message_id="l-3"
    )
    queued.flush()
    queued.shutdown()
    assert failures == []

    with httpx.Client(base_url=live_server, headers=org.secret_headers) as api:
        profiles = api.get("/api/profiles").json()["data"]
        events = api.get("/api/events", params={"limit": 100}).json()["data"]
    (profile,) = profiles
    assert profile["external_id"] == "lib-user"
    assert profile["email"] == "lib@example.com"
    assert profile["first_name"] == "Libby"
    assert profile["properties"] == {"plan": "pro", "groups": {"acme": {"plan": "team"}}}
    assert {e["profile_id"] for e in events} == {profile["id"]}
    assert {e["source"] for e in events} == {"segment"}
    names = sorted(e["name"] for e in events)
    assert names == sorted(
        [
            "Viewed Product",
            "Viewed Page",
            "Old Account Event",
            "Order Completed",
            "Viewed Screen",
            *["Queued"] * 5,
        ]
    )
    (order,) = [e for e in events if e["name"] == "Order Completed"]
    assert order["unique_id"] == "l-3"
    assert order["value"] == pytest.approx(42.5)
    (page,) = [e for e in events if e["name"] == "Viewed Page"]
    assert page["properties"] == {
        "url": "https://acme.test/pricing",
        "name": "Pricing",
        "category": "Docs",
    }
    assert sorted(e["properties"]["n"] for e in events if e["name"] == "Queued") == list(range(5))
