"""Idempotency-Key: a retried write happens once and gets the first answer again."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import get_database
from herald.idempotency import SPOOL_IN_MEMORY, credential_hash, fingerprint, reserve
from herald.models import ApiKey, IdempotencyRecord, Job, JobFile
from tests.factories import make_org, sign_in
from tests.queueing import use_real_queue


def _key_count() -> int:
    with get_database().transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) or 0


def test_a_retried_write_happens_once_and_replays_the_answer(client: TestClient) -> None:
    org = make_org()
    headers = {**org.secret_headers, "Idempotency-Key": "create-key-1"}
    body = {"name": "retry me", "kind": "secret"}
    before = _key_count()
    first = client.post("/api/api-keys", json=body, headers=headers)
    second = client.post("/api/api-keys", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _key_count() == before + 1


def test_reusing_a_key_for_another_request_is_refused(client: TestClient) -> None:
    org = make_org()
    headers = {**org.secret_headers, "Idempotency-Key": "k"}
    client.post("/api/api-keys", json={"name": "a", "kind": "secret"}, headers=headers)
    before = _key_count()
    other = client.post("/api/api-keys", json={"name": "b", "kind": "secret"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert _key_count() == before


def test_keys_are_scoped_to_their_sender(client: TestClient) -> None:
    first, second = make_org(), make_org()
    body = {"name": "same", "kind": "public"}
    a = client.post(
        "/api/api-keys", json=body, headers={**first.secret_headers, "Idempotency-Key": "shared"}
    )
    b = client.post(
        "/api/api-keys", json=body, headers={**second.secret_headers, "Idempotency-Key": "shared"}
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "Idempotent-Replayed" not in b.headers


def test_error_answers_below_500_are_replayed_too(client: TestClient) -> None:
    org = make_org()
    headers = {**org.secret_headers, "Idempotency-Key": "bad"}
    first = client.post("/api/users", json={"email": "nope"}, headers=headers)
    second = client.post("/api/users", json={"email": "nope"}, headers=headers)
    assert first.status_code == second.status_code == 422
    assert second.headers["Idempotent-Replayed"] == "true"


def test_a_server_error_is_not_stored_so_the_retry_runs(app, backend) -> None:
    calls = []

    @app.post("/api/test-flaky", operation_id="test_flaky")
    def flaky() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient")
        return {"calls": len(calls)}

    app.router.routes.insert(0, app.router.routes.pop())
    org = make_org()
    headers = {**org.secret_headers, "Idempotency-Key": "flaky"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/api/test-flaky", headers=headers).status_code == 500
        retry = client.post("/api/test-flaky", headers=headers)
        assert retry.status_code == 200 and retry.json() == {"calls": 2}
        again = client.post("/api/test-flaky", headers=headers)
        assert again.json() == {"calls": 2} and len(calls) == 2


def test_a_key_being_processed_answers_409(client: TestClient) -> None:
    org = make_org()
    body = b'{"name": "x", "kind": "public"}'
    # A first request with this key is still running: its record is reserved, not completed.
    scope_hash = credential_hash(org.secret_headers["Authorization"])
    assert reserve(scope_hash, "slow", fingerprint("POST", "/api/api-keys", b"", body)) is None
    before = _key_count()
    response = client.post(
        "/api/api-keys",
        content=body,
        headers={
            **org.secret_headers,
            "Idempotency-Key": "slow",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_in_progress"
    assert response.headers["Retry-After"] == "1"
    assert _key_count() == before


def test_dashboard_sessions_use_idempotency_keys_too(client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    headers = {"X-CSRF-Token": csrf, "Idempotency-Key": "browser-1"}
    body = {"name": "from the dashboard", "kind": "public"}
    first = client.post("/api/api-keys", json=body, headers=headers)
    second = client.post("/api/api-keys", json=body, headers=headers)
    assert second.json()["id"] == first.json()["id"]


def test_requests_without_the_header_are_untouched(client: TestClient) -> None:
    org = make_org()
    body = {"name": "twice", "kind": "public"}
    a = client.post("/api/api-keys", json=body, headers=org.secret_headers)
    b = client.post("/api/api-keys", json=body, headers=org.secret_headers)
    assert a.json()["id"] != b.json()["id"]
    with get_database().transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0


def test_an_overlong_key_is_refused(client: TestClient) -> None:
    org = make_org()
    response = client.post(
        "/api/api-keys",
        json={"name": "x", "kind": "public"},
        headers={**org.secret_headers, "Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 400


def test_a_large_upload_is_spooled_and_replayed(client: TestClient, backend) -> None:
    """Bodies past the in-memory spool (an import upload) still reach the handler whole, once."""
    use_real_queue(backend)  # store the job, do not run the import
    org = make_org()
    rows = "".join(f"p{i}@example.com,{'x' * 1200}\n" for i in range(2000))
    content = ("email,note\n" + rows).encode()
    assert len(content) > 2 * SPOOL_IN_MEMORY

    # A retry sends the same bytes: build the multipart body once (its boundary is random).
    request = client.build_request(
        "POST",
        "/api/imports/profiles",
        files={"file": ("people.csv", content, "text/csv")},
        headers={**org.secret_headers, "Idempotency-Key": "upload-1"},
    )
    request.read()
    first, second = client.send(request), client.send(request)
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    with get_database().transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
        stored = b"".join(session.scalars(sa.select(JobFile.data).order_by(JobFile.seq)))
    assert stored == content
