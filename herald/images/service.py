"""The image library: checking uploads (type from the bytes, size, a whole decodable image),
storing them, listing them and serving them by their unguessable public id. No HTTP here.

Images are stored as imports store their files: in the database, so that any API process on any
machine serves any image and a backup of the database is a backup of the library.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from typing import IO

import sqlalchemy as sa
from PIL import Image as PillowImage
from sqlalchemy.orm import Session, undefer

from herald.db import like_pattern
from herald.errors import FieldError, HeraldError, InvalidInput, NotFound
from herald.images import schemas
from herald.models import Image
from herald.pagination import newest_first_page
from herald.settings import get_settings
from herald.tenancy.scope import get_scoped, scoped

MB = 1024 * 1024
# The formats email clients show, by the magic numbers that start their files.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
# Bigger than any email needs; a guard against decompression bombs before the pixels are read.
MAX_SIDE = 10_000
MAX_PIXELS = 25_000_000
UNSUPPORTED = (
    "is not a PNG, JPEG, GIF or WebP image (the type is read from the file's bytes, not its "
    "name; SVG is refused because it can carry scripts)"
)
MAX_FILENAME = 80


class TooLarge(HeraldError):
    status_code = 413
    code = "too_large"


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    width: int
    height: int


def _sniff(head: bytes) -> str | None:
    """The content type the magic number names, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_upload(stream: IO[bytes], limit: int) -> bytes:
    """The whole file, refusing it (413 naming `file`) as soon as it passes `limit` bytes."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        size = f"{limit / MB:g} MB" if limit >= MB else f"{limit} bytes"
        reason = f"is larger than {size}"
        raise TooLarge(f"file: {reason}", [FieldError("file", reason)])
    return data


def check_image(data: bytes) -> CheckedImage:
    """The image's type and size, or InvalidInput naming `file`: empty, not one of the four
    formats by its bytes, too many pixels, or damaged (it must decode whole)."""
    if not data:
        raise InvalidInput.for_field("file", "is empty")
    content_type = _sniff(data[:16])
    if content_type is None:
        raise InvalidInput.for_field("file", UNSUPPORTED)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PillowImage.DecompressionBombWarning)
            with PillowImage.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                if FORMATS.get(image.format or "") != content_type:
                    raise InvalidInput.for_field("file", UNSUPPORTED)
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                    raise InvalidInput.for_field(
                        "file",
                        f"is {width}x{height} pixels: at most {MAX_SIDE:,} a side and "
                        f"{MAX_PIXELS // 1_000_000} megapixels",
                    )
                image.load()  # every pixel decodes: a truncated or damaged file fails here
    except InvalidInput:
        raise
    except (
        OSError,
        ValueError,
        SyntaxError,
        PillowImage.DecompressionBombError,
        PillowImage.DecompressionBombWarning,
    ) as exc:
        raise InvalidInput.for_field("file", f"is not a readable image ({exc})") from exc
    return CheckedImage(data, content_type, width, height)


def safe_filename(name: str, content_type: str) -> str:
    """A URL-safe last path part for the image: the name's letters and digits (accents
    dropped), dashes between words, and the extension of the type the bytes have."""
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", name)
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_stem.lower()).strip("-")[:MAX_FILENAME].strip("-")
    return f"{slug or 'image'}.{EXTENSIONS[content_type]}"


def default_name(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or "image"


def create_image(
    session: Session,
    org_id: uuid.UUID,
    stream: IO[bytes],
    *,
    filename: str | None,
    name: str | None = None,
) -> Image:
    checked = check_image(read_upload(stream, get_settings().image_max_bytes))
    name = name or default_name(filename)
    image = Image(
        org_id=org_id,
        public_id=secrets.token_urlsafe(24),
        name=name,
        filename=safe_filename(name, checked.content_type),
        content_type=checked.content_type,
        width=checked.width,
        height=checked.height,
        size_bytes=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
        data=checked.data,
    )
    session.add(image)
    session.flush()
    return image


def get_image(session: Session, org_id: uuid.UUID, image_id: uuid.UUID) -> Image:
    return get_scoped(session, Image, org_id, image_id)


def list_images(
    session: Session,
    org_id: uuid.UUID,
    *,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Image], str | None]:
    query = scoped(Image, org_id)
    if search and search.strip():
        pattern = f"%{like_pattern(search.strip().lower())}%"
        query = query.where(sa.func.lower(Image.name).like(pattern, escape="\\"))
    return newest_first_page(session, query, Image.created_at, Image.id, limit=limit, cursor=cursor)


def delete_image(session: Session, org_id: uuid.UUID, image_id: uuid.UUID) -> None:
    session.delete(get_image(session, org_id, image_id))
    session.flush()


def public_url(image: Image) -> str:
    base = get_settings().base_url.rstrip("/")
    return f"{base}/images/{image.public_id}/{image.filename}"


def to_schema(image: Image) -> schemas.Image:
    return schemas.Image(
        id=image.id,
        name=image.name,
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        url=public_url(image),
        created_at=image.created_at,
    )


def published(session: Session, public_id: str, filename: str) -> Image:
    """The image at a public URL, bytes loaded; NotFound unless both parts match."""
    image = session.scalar(
        sa.select(Image).options(undefer(Image.data)).where(Image.public_id == public_id)
    )
    if image is None or image.filename != filename:
        raise NotFound("image not found")
    return image
