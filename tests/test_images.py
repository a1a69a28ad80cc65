"""The image library through the API, on both databases: uploads of each format with the type
read from the bytes, refused files (SVG, HTML named .png, damaged, empty, too large), public
serving with its cache headers, search and pages, deletion, tenancy and dashboard access."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlparse

from fastapi.testclient import TestClient
from PIL import Image as PillowImage

from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.tenancy import Endpoint, assert_isolated, assert_management_only

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def picture(fmt: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    PillowImage.new("RGB", size, (200, 40, 90)).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(
    client: TestClient,
    org: OrgFixture,
    data: bytes,
    filename: str = "photo.png",
    content_type: str = "image/png",
    **form: str,
) -> Any:
    return client.post(
        "/api/images",
        files={"file": (filename, data, content_type)},
        data=form,
        headers=org.secret_headers,
    )


def uploaded(client: TestClient, org: OrgFixture, data: bytes, **kwargs: Any) -> dict[str, Any]:
    response = upload(client, org, data, **kwargs)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def refusal(response: Any, status: int = 422) -> str:
    assert response.status_code == status, response.text
    fields = response.json()["error"]["fields"]
    assert [f["field"] for f in fields] == ["file"], fields
    reason: str = fields[0]["reason"]
    return reason


def path_of(url: str) -> str:
    return urlparse(url).path


def test_each_format_is_stored_with_its_type_and_size_and_served(client: TestClient) -> None:
    org = make_org()
    for fmt, content_type in FORMATS.items():
        data = picture(fmt, (48, 20))
        # The name says PNG; the bytes decide.
        image = uploaded(client, org, data, filename=f"Summer Sale {fmt}.png")
        assert image["content_type"] == content_type
        assert (image["width"], image["height"]) == (48, 20)
        assert image["size_bytes"] == len(data)
        assert image["name"] == f"Summer Sale {fmt}.png"
        extension = {"JPEG": "jpg"}.get(fmt, fmt.lower())
        assert image["url"].endswith(f"/summer-sale-{fmt.lower()}.{extension}")

        served = client.get(path_of(image["url"]))
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"] == content_type
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["x-content-type-options"] == "nosniff"
        etag = served.headers["etag"]
        again = client.get(path_of(image["url"]), headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        head = client.head(path_of(image["url"]))
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_public_urls_need_no_credentials_and_are_unguessable(client: TestClient) -> None:
    org = make_org()
    first = uploaded(client, org, picture(), name="Logo")
    second = uploaded(client, org, picture(), name="Logo")
    assert first["name"] == "Logo" and first["url"].endswith("/logo.png")
    public_ids = {path_of(i["url"]).split("/")[2] for i in (first, second)}
    assert len(public_ids) == 2 and all(len(p) >= 32 for p in public_ids)
    assert all(i["id"] not in i["url"] for i in (first, second))
    # The public id and the filename must both match.
    public_id = path_of(first["url"]).split("/")[2]
    assert client.get(f"/images/{public_id}/other.png").status_code == 404
    missing = client.get("/images/not-an-id/logo.png")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_refused_files(client: TestClient) -> None:
    org = make_org()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert "SVG" in refusal(upload(client, org, svg, "logo.svg", "image/svg+xml"))
    html = b"<html><body><script>alert(1)</script></body></html>"
    assert "not a PNG" in refusal(upload(client, org, html, "photo.png", "image/png"))
    assert refusal(upload(client, org, b"")) == "is empty"
    damaged = picture("PNG", (300, 300))[:200]
    assert "not a readable image" in refusal(upload(client, org, damaged))
    huge = picture("PNG", (10_001, 1))
    assert refusal(upload(client, org, huge)).startswith("is 10001x1 pixels: at most 10,000")
    bmp = picture("BMP")
    refusal(upload(client, org, bmp, "photo.bmp", "image/bmp"))
    # Over the 5 MB default: the bytes of a PNG header followed by noise.
    too_big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024)
    assert refusal(upload(client, org, too_big), 413) == "is larger than 5 MB"
    assert client.get("/api/images", headers=org.secret_headers).json()["data"] == []


def test_list_search_pages_get_and_delete(client: TestClient) -> None:
    org = make_org()
    names = ["Hero banner", "Logo", "Footer badge", "Banner 2"]
    ids = [uploaded(client, org, picture(), name=n)["id"] for n in names]
    listed = client.get("/api/images", headers=org.secret_headers).json()
    assert [i["id"] for i in listed["data"]] == ids[::-1] and listed["next_cursor"] is None
    found = client.get("/api/images?search=BANNER", headers=org.secret_headers).json()["data"]
    assert [i["name"] for i in found] == ["Banner 2", "Hero banner"]
    none = client.get("/api/images?search=50%25", headers=org.secret_headers).json()["data"]
    assert none == []
    page = client.get("/api/images?limit=3", headers=org.secret_headers).json()
    rest = client.get(
        f"/api/images?limit=3&cursor={page['next_cursor']}", headers=org.secret_headers
    ).json()
    assert [i["id"] for i in page["data"] + rest["data"]] == ids[::-1]

    image = client.get(f"/api/images/{ids[0]}", headers=org.secret_headers).json()
    assert image["name"] == "Hero banner"
    deleted = client.delete(f"/api/images/{ids[0]}", headers=org.secret_headers)
    assert deleted.status_code == 204
    assert client.get(f"/api/images/{ids[0]}", headers=org.secret_headers).status_code == 404
    assert client.get(path_of(image["url"])).status_code == 404


def test_bad_name_and_query(client: TestClient) -> None:
    org = make_org()
    response = upload(client, org, picture(), name="x" * 300)
    assert response.status_code == 422
    assert "name" in [f["field"] for f in response.json()["error"]["fields"]]
    response = client.get("/api/images?cursor=nonsense", headers=org.secret_headers)
    assert response.status_code == 422


def test_tenancy_and_access(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    image = uploaded(client, owner, picture())
    by_id = "/api/images/{id}"
    assert_isolated(
        client,
        owner,
        intruder,
        image["id"],
        [Endpoint("GET", by_id), Endpoint("DELETE", by_id)],
        Endpoint("GET", by_id),
    )
    assert client.get("/api/images", headers=intruder.secret_headers).json()["data"] == []
    assert_management_only(
        client, owner, image["id"], [Endpoint("GET", by_id), Endpoint("GET", "/api/images")]
    )


def test_dashboard_members_upload(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, role="member")
    csrf = sign_in(client, email, password)
    response = client.post(
        "/api/images",
        files={"file": ("a.gif", picture("GIF"), "image/gif")},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 201, response.text
    listed = client.get("/api/images").json()["data"]
    assert [i["id"] for i in listed] == [response.json()["id"]]
