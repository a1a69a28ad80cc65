"""GET /sdk.js: the hand-written browser snippet (sdk.js beside this file)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response

from herald.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute)

MEDIA_TYPE = "text/javascript; charset=utf-8"
# Websites embed the script; an hour keeps page loads fast and lets an upgrade reach them soon.
# The ETag makes the revalidation after that an empty 304.
CACHE_CONTROL = "public, max-age=3600"


@dataclass(frozen=True)
class Script:
    body: bytes
    etag: str


@cache
def sdk_script() -> Script:
    body = resources.files("herald.sdk").joinpath("sdk.js").read_bytes()
    return Script(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@router.api_route("/sdk.js", methods=["GET", "HEAD"], include_in_schema=False)
def sdk_js(request: Request) -> Response:
    script = sdk_script()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": script.etag,
        "X-Content-Type-Options": "nosniff",
    }
    sent = request.headers.get("if-none-match", "")
    if script.etag in (tag.strip() for tag in sent.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(script.body, media_type=MEDIA_TYPE, headers=headers)
