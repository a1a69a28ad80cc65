"""Rate limits (issue 18): each class's limits and headers, 429 with Retry-After, keys against
their organization, the owner's changes and the install's ceilings, tenancy.

Windows per minute keep these tests independent of how fast the machine answers; the blocks
that processes reserve ahead are tested in tests/test_rate_limit_blocks.py and across two
`herald serve` processes in tests/test_rate_limit_processes.py."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from herald.ratelimit import policy
from herald.settings import get_settings
from tests.factories import OrgFixture, make_org, make_user, sign_in

HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
EVENT = {"event": "Viewed", "profile": {"email": "rate@example.com"}}


def _quota(response: httpx.Response) -> tuple[int, int, int]:
    limit, remaining, reset = (int(response.headers[name]) for name in HEADERS)
    return limit, remaining, reset


def _set(client: TestClient, org: OrgFixture, body: dict[str, Any]) -> httpx.Response:
    """PATCH /api/rate-limits as the organization's owner, in a client of its own (the test's
    client keeps whatever credentials it had)."""
    with TestClient(client.app, base_url="http://testserver") as owner:
        csrf = sign_in(owner, org.owner_email)
        return owner.patch("/api/rate-limits", json=body, headers={"X-CSRF-Token": csrf})


def _limit(kind: str, level: str, period: str, value: int | None) -> dict[str, Any]:
    return {kind: {level: {f"per_{period}": value}}}


def fresh_minute() -> None:
    """Wait, when the wall clock's minute is nearly over, for the next one. In memory, `limits`
    aligns its windows to the clock's minutes, and its sliding window counter counts a minute's
    requests only in part in the next: a sequence of requests that straddles the boundary is
    allowed more than the limit. These tests count within one minute."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.05)


def _configure(monkeypatch: pytest.MonkeyPatch, **values: int) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"HERALD_RATE_LIMIT_{name.upper()}", str(value))
    get_settings.cache_clear()


def test_every_class_answers_with_its_headers(client: TestClient) -> None:
    org = make_org()
    track = client.post("/api/track", json=EVENT, headers=org.public_headers)
    assert track.status_code == 202
    # The tightest ingestion window by default: the key's per second.
    assert _quota(track)[0] == policy.default("ingestion", "key", "second")
    # Errors of a limited class carry them too.
    invalid = client.post("/api/track", json={"event": ""}, headers=org.public_headers)
    assert invalid.status_code == 422 and _quota(invalid)[0] > 0
    batch = client.post("/api/track/batch", json={"events": [EVENT]}, headers=org.public_headers)
    assert batch.status_code == 200 and _quota(batch)[0] > 0
    identify = client.post(
        "/api/identify", json={"email": "rate@example.com"}, headers=org.public_headers
    )
    assert identify.status_code == 200 and _quota(identify)[0] > 0
    segment = client.post(
        "/v1/track",
        json={"userId": "u1", "event": "Viewed"},
        headers=org.public_headers,
    )
    assert segment.status_code == 200 and _quota(segment)[0] > 0
    management = client.get("/api/me", headers=org.secret_headers)
    assert management.status_code == 200
    assert _quota(management)[0] == policy.default("management", "key", "second")
    missing = client.get(f"/api/profiles/{org.org_id}", headers=org.secret_headers)
    assert missing.status_code == 404 and _quota(missing)[0] > 0
    public = client.get("/u/not-a-token")
    assert public.status_code in (400, 404) and _quota(public)[0] == policy.public_limit("second")
    # Outside the limited classes: no headers.
    assert "ratelimit-limit" not in client.get("/healthz").headers


def test_a_key_over_its_limit_gets_429_with_retry_after_and_nothing_changes(
    client: TestClient,
) -> None:
    org = make_org()
    assert _set(client, org, _limit("ingestion", "key", "minute", 3)).status_code == 200
    fresh_minute()
    remaining = []
    for i in range(3):
        response = client.post(
            "/api/track",
            json={**EVENT, "unique_id": f"u{i}"},
            headers=org.public_headers,
        )
        assert response.status_code == 202, response.text
        remaining.append(_quota(response)[1])
    assert remaining == [2, 1, 0]
    refused = client.post(
        "/api/track", json={**EVENT, "unique_id": "u3"}, headers=org.public_headers
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    # A sliding window counter weighs the previous minute: up to two minutes for a full one.
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    limit, remaining_after, _reset = _quota(refused)
    assert (limit, remaining_after) == (3, 0)
    events = client.get("/api/events", headers=org.secret_headers).json()["data"]
    assert sorted(e["unique_id"] for e in events) == ["u0", "u1", "u2"]


def test_keys_have_their_own_windows_inside_their_organizations(client: TestClient) -> None:
    org, other = make_org(), make_org()
    body = {"management": {"organization": {"per_minute": 5}, "key": {"per_minute": 3}}}
    fresh_minute()
    assert _set(client, org, body).status_code == 200
    second_key = client.post(
        "/api/api-keys", json={"name": "script", "kind": "secret"}, headers=org.secret_headers
    ).json()["key"]
    # The owner's PATCH counted in the windows of the limits before it. The key's creation is
    # its first request of 3, and the organization's first of 5.
    statuses = [client.get("/api/me", headers=org.secret_headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # A key of its own, but the organization has 2 requests left.
    headers = {"Authorization": f"Bearer {second_key}"}
    second = [client.get("/api/me", headers=headers).status_code for _ in range(3)]
    assert second == [200, 200, 429]
    # Another organization is not affected.
    assert client.get("/api/me", headers=other.secret_headers).status_code == 200


def test_a_dashboard_user_stands_for_a_key(client: TestClient) -> None:
    org = make_org()
    fresh_minute()
    assert _set(client, org, _limit("management", "key", "minute", 2)).status_code == 200
    email, _ = make_user(org, "admin")
    sign_in(client, email)
    assert [client.get("/api/me").status_code for _ in range(3)] == [200, 200, 429]
    # The secret key has windows of its own.
    assert client.get("/api/me", headers=org.secret_headers).status_code == 200


def test_only_owners_change_limits_and_never_above_the_ceiling(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    body = _limit("management", "key", "second", 7)
    by_key = client.patch("/api/rate-limits", json=body, headers=org.secret_headers)
    assert by_key.status_code == 403
    admin_email, _ = make_user(org, "admin")
    with TestClient(client.app, base_url="http://testserver") as admin:
        csrf = sign_in(admin, admin_email)
        refused = admin.put("/api/rate-limits", json=body, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
    unchanged = client.get("/api/rate-limits", headers=org.secret_headers).json()
    assert unchanged["management"]["key"]["per_second"]["custom"] is False

    _configure(monkeypatch, ceiling_management_per_second=50)
    too_high = _set(client, org, {"management": {"key": {"per_second": 51, "per_minute": 10}}})
    assert too_high.status_code == 422
    assert [f["field"] for f in too_high.json()["error"]["fields"]] == ["management.key.per_second"]
    after = client.get("/api/rate-limits", headers=org.secret_headers).json()
    assert after["management"]["key"]["per_minute"]["custom"] is False  # nothing changed
    # The built-in default above the ceiling is lowered to it.
    assert after["management"]["organization"]["per_second"]["default"] == 50
    assert after["management"]["key"]["per_second"]["ceiling"] == 50
    for bad in ({"management": {"key": {"per_second": 0}}}, {"other": {}}):
        assert _set(client, org, bad).status_code == 422

    saved = _set(client, org, _limit("management", "key", "second", 50))
    assert saved.status_code == 200
    assert saved.json()["management"]["key"]["per_second"] == {
        "limit": 50,
        "default": 50,
        "ceiling": 50,
        "custom": True,
        "used": None,
    }


def test_patch_changes_what_it_names_and_put_resets_the_rest(client: TestClient) -> None:
    org = make_org()
    first = _set(client, org, _limit("ingestion", "organization", "minute", 1000)).json()
    assert first["ingestion"]["organization"]["per_minute"]["limit"] == 1000
    second = _set(client, org, _limit("ingestion", "key", "minute", 500)).json()
    assert second["ingestion"]["organization"]["per_minute"]["limit"] == 1000
    reset = _set(client, org, _limit("ingestion", "organization", "minute", None)).json()
    assert reset["ingestion"]["organization"]["per_minute"] == {
        **reset["ingestion"]["organization"]["per_minute"],
        "custom": False,
        "limit": policy.default("ingestion", "organization", "minute"),
    }
    assert reset["ingestion"]["key"]["per_minute"]["limit"] == 500
    with TestClient(client.app, base_url="http://testserver") as owner:
        csrf = sign_in(owner, org.owner_email)
        replaced = owner.put(
            "/api/rate-limits",
            json={"management": {"organization": {"per_second": 90}}},
            headers={"X-CSRF-Token": csrf},
        ).json()
    assert replaced["management"]["organization"]["per_second"]["limit"] == 90
    assert replaced["ingestion"]["key"]["per_minute"]["custom"] is False


def test_usage_and_limits_are_the_organizations_own(client: TestClient) -> None:
    org, intruder = make_org(), make_org()
    for i in range(4):
        client.post("/api/track", json={**EVENT, "unique_id": str(i)}, headers=org.public_headers)
    assert _set(client, intruder, _limit("ingestion", "key", "minute", 2)).status_code == 200
    mine = client.get("/api/rate-limits", headers=org.secret_headers).json()
    assert mine["ingestion"]["key"]["per_minute"]["custom"] is False
    assert mine["ingestion"]["organization"]["per_minute"]["used"] >= 4
    by_key = {key["kind"]: key for key in mine["keys"]}
    assert by_key["public"]["ingestion"]["per_minute"] >= 4
    assert by_key["secret"]["ingestion"]["per_minute"] == 0
    theirs = client.get("/api/rate-limits", headers=intruder.secret_headers).json()
    assert theirs["ingestion"]["organization"]["per_minute"]["used"] == 0
    assert theirs["ingestion"]["key"]["per_minute"]["limit"] == 2
    assert {key["api_key_id"] for key in theirs["keys"]}.isdisjoint(
        key["api_key_id"] for key in mine["keys"]
    )
    # The intruder's limit binds the intruder only.
    for _ in range(3):
        assert client.post("/api/track", json=EVENT, headers=org.public_headers).status_code == 202


def test_public_requests_are_limited_per_client_address(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, public_per_minute=3)
    policy.forget_org_limits()  # the address's windows are read again with the new setting
    fresh_minute()
    statuses = [client.get("/u/not-a-token").status_code for _ in range(4)]
    assert statuses[:3] != [429] * 3 and statuses[3] == 429
    refused = client.post("/t/c/anything")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert _quota(refused)[:2] == (3, 0)


def test_wrong_keys_count_against_the_client_address(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, public_per_minute=3)
    policy.forget_org_limits()
    fresh_minute()
    wrong = {"Authorization": "Bearer pk_guessed"}
    statuses = [client.post("/api/track", json=EVENT, headers=wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    assert client.get("/api/me", headers={"Authorization": "Bearer sk_x"}).status_code == 429
    # A valid key is counted on its own windows, not the address's.
    org = make_org()
    assert client.post("/api/track", json=EVENT, headers=org.public_headers).status_code == 202
