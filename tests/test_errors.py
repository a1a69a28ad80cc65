"""Every error answers with one JSON shape (DESIGN invariant 6)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import make_org


def assert_error_shape(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    for field in error["fields"]:
        assert set(field) == {"field", "reason"}


def test_validation_errors_name_each_field(client: TestClient) -> None:
    org = make_org()
    response = client.post(
        "/api/users",
        json={"email": "not-an-email", "password": "short"},
        headers=org.secret_headers,
    )
    assert response.status_code == 422
    body = response.json()
    assert_error_shape(body, "invalid")
    fields = {f["field"] for f in body["error"]["fields"]}
    assert fields == {"email", "password"}


def test_malformed_json_is_a_422_with_the_shape(client: TestClient) -> None:
    org = make_org()
    response = client.post(
        "/api/api-keys",
        content=b"{not json",
        headers={**org.secret_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert_error_shape(response.json(), "invalid")


def test_unknown_api_route_is_404_with_the_shape(client: TestClient) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = client.request(method, "/api/no-such-thing")
        assert response.status_code == 404, method
        assert_error_shape(response.json(), "not_found")


def test_wrong_method_is_405_with_the_shape(client: TestClient) -> None:
    response = client.put("/api/me")
    assert response.status_code == 405
    assert_error_shape(response.json(), "method_not_allowed")


def test_bad_path_parameter_names_the_field(client: TestClient) -> None:
    org = make_org()
    response = client.get("/api/users/not-a-uuid", headers=org.secret_headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "user_id"


def test_unexpected_exception_is_a_500_with_the_shape(app, backend) -> None:
    @app.get("/api/test-crash", operation_id="test_crash")
    def crash() -> None:
        raise RuntimeError("boom")

    # The catch-all dashboard route was registered first; move the new route before it.
    app.router.routes.insert(0, app.router.routes.pop())
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/test-crash")
    assert response.status_code == 500
    assert_error_shape(response.json(), "internal_error")
    assert "boom" not in response.text
