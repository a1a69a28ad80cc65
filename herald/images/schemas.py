"""What the image library answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ContentType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]


class Image(BaseModel):
    id: uuid.UUID
    name: str
    content_type: ContentType = Field(description="Detected from the file's bytes, not its name.")
    width: int = Field(description="Pixels.")
    height: int = Field(description="Pixels.")
    size_bytes: int
    url: str = Field(
        description="Where email clients load it: public, cached for a year, never changes."
    )
    created_at: datetime


class ImageList(BaseModel):
    data: list[Image]
    next_cursor: str | None = None
