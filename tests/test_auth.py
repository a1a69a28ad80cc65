"""Dashboard sign-in, sessions, CSRF, /api/me and password changes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from herald.tenancy.auth import CSRF_COOKIE, SESSION_COOKIE
from tests.factories import DEFAULT_PASSWORD, make_org, make_user, sign_in


def test_login_sets_a_httponly_session_cookie_and_returns_the_user(client: TestClient) -> None:
    org = make_org("Acme")
    response = client.post(
        "/api/auth/login", json={"email": org.owner_email.upper(), "password": org.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == org.owner_email
    assert body["user"]["role"] == "owner"
    assert body["organization"]["name"] == "Acme"
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=lax" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" not in csrf_cookie
    assert body["csrf_token"] in csrf_cookie
    assert "password" not in response.text.lower().replace('"password"', "")


def test_wrong_password_and_unknown_email_answer_the_same(client: TestClient) -> None:
    org = make_org()
    wrong = client.post(
        "/api/auth/login", json={"email": org.owner_email, "password": "not the password"}
    )
    unknown = client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert SESSION_COOKIE not in client.cookies


def test_me_with_a_session_and_with_a_secret_key(client: TestClient) -> None:
    org = make_org()
    by_key = client.get("/api/me", headers=org.secret_headers).json()
    assert by_key["kind"] == "secret_key"
    assert by_key["organization"]["id"] == str(org.org_id)
    assert by_key["user"] is None and by_key["csrf_token"] is None
    csrf = sign_in(client, org.owner_email)
    by_session = client.get("/api/me").json()
    assert by_session["kind"] == "user"
    assert by_session["user"]["email"] == org.owner_email
    assert by_session["csrf_token"] == csrf


def test_unsafe_requests_with_a_session_need_the_csrf_header(client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    body = {"name": "from the browser", "kind": "public"}
    missing = client.post("/api/api-keys", json=body)
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/api/api-keys", json=body, headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    listed = client.get("/api/api-keys").json()["data"]
    assert [k["name"] for k in listed] == ["public", "secret"]  # nothing was created
    ok = client.post("/api/api-keys", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_csrf_token_of_one_session_does_not_work_for_another(app, client: TestClient) -> None:
    org = make_org()
    csrf_first = sign_in(client, org.owner_email)
    with TestClient(app) as other:
        sign_in(other, org.owner_email)
        response = other.post(
            "/api/api-keys",
            json={"name": "x", "kind": "public"},
            headers={"X-CSRF-Token": csrf_first},
        )
        assert response.status_code == 403


def test_logout_ends_the_session(client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set(SESSION_COOKIE, token)  # a stolen copy of the cookie is now worthless
    response = client.get("/api/me")
    assert response.status_code == 401


def test_change_password_ends_other_sessions_but_keeps_this_one(app, client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    with TestClient(app) as laptop:
        sign_in(laptop, org.owner_email)
        assert laptop.get("/api/me").status_code == 200
        response = client.post(
            "/api/me/password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new password"},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 204
        assert laptop.get("/api/me").status_code == 401
    assert client.get("/api/me").status_code == 200
    client.cookies.clear()
    old = client.post(
        "/api/auth/login", json={"email": org.owner_email, "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 401
    sign_in(client, org.owner_email, "a brand new password")


def test_change_password_checks_the_current_one(client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    response = client.post(
        "/api/me/password",
        json={"current_password": "wrong wrong wrong", "new_password": "a brand new password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {"field": "current_password", "reason": "does not match"}
    ]
    client.cookies.clear()
    sign_in(client, org.owner_email)  # the old password still works


def test_change_password_needs_a_signed_in_user(client: TestClient) -> None:
    org = make_org()
    response = client.post(
        "/api/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new password"},
        headers=org.secret_headers,
    )
    assert response.status_code == 401


def test_repeated_failed_logins_are_rate_limited(client: TestClient) -> None:
    org = make_org()
    statuses = [
        client.post(
            "/api/auth/login", json={"email": org.owner_email, "password": "guess guess"}
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    limited = client.post(
        "/api/auth/login", json={"email": org.owner_email, "password": org.password}
    )
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_members_sign_in_with_their_role(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "member")
    sign_in(client, email, password)
    assert client.get("/api/me").json()["role"] == "member"
