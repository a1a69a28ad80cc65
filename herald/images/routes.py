"""HTTP handlers for the image library (secret key or dashboard) and the public image URLs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status

from herald.errors import ErrorResponse
from herald.images import schemas, service
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession
from herald.validation import Text255

router = APIRouter(prefix="/api/images", tags=["images"], route_class=JsonBodyRoute)
# Public: email clients load images without credentials. Not in the API's schema (like the
# tracking links): the URL comes from an image's `url`.
public_router = APIRouter(include_in_schema=False, route_class=JsonBodyRoute)

REFUSED: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "The file is over the size limit."},
    422: {"model": ErrorResponse, "description": "Not a PNG, JPEG, GIF or WebP image, or empty."},
}
# A URL's bytes never change (a new upload gets a new URL), so caches may keep them for good.
CACHE_FOREVER = "public, max-age=31536000, immutable"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="upload_image",
    responses=REFUSED,
)
def upload_image(
    auth: ManagementAuth,
    session: DbSession,
    file: Annotated[
        UploadFile,
        File(description="A PNG, JPEG, GIF or WebP image (HERALD_IMAGE_MAX_BYTES, 5 MB default)."),
    ],
    name: Annotated[
        Text255 | None, Form(description="Shown in the library; default the file's name.")
    ] = None,
) -> schemas.Image:
    """Add an image to the library. Its type is read from its bytes; SVG is refused."""
    image = service.create_image(
        session, auth.org_id, file.file, filename=file.filename, name=name or None
    )
    return service.to_schema(image)


@router.get("", operation_id="list_images")
def list_images(
    auth: ManagementAuth,
    session: DbSession,
    search: Annotated[
        Text255 | None, Query(description="Images whose name contains this text.")
    ] = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.ImageList:
    """The organization's images, newest first."""
    images, next_cursor = service.list_images(
        session, auth.org_id, search=search, limit=limit, cursor=cursor
    )
    return schemas.ImageList(data=[service.to_schema(i) for i in images], next_cursor=next_cursor)


@router.get("/{image_id}", operation_id="get_image")
def get_image(image_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> schemas.Image:
    return service.to_schema(service.get_image(session, auth.org_id, image_id))


@router.delete("/{image_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_image")
def delete_image(image_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> Response:
    """Remove an image; emails already sent that show it show a broken image from then on."""
    service.delete_image(session, auth.org_id, image_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@public_router.api_route(
    "/images/{public_id}/{filename}", methods=["GET", "HEAD"], name="public_image"
)
def public_image(public_id: str, filename: str, request: Request, session: DbSession) -> Response:
    image = service.published(session, public_id, filename)
    etag = f'"{image.sha256[:32]}"'
    headers = {
        "Cache-Control": CACHE_FOREVER,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=image.data, media_type=image.content_type, headers=headers)
