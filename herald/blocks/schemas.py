"""Request and response models for saved template blocks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from herald.validation import Name, StorableText

MAX_BLOCK = 100_000
BlockMjml = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BLOCK), StorableText]
MJML_HELP = (
    "One <mj-section> or <mj-wrapper> element, Jinja personalization allowed; checked by "
    "compiling it inside a minimal MJML document."
)


class TemplateBlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    mjml: BlockMjml = Field(description=MJML_HELP)


class TemplateBlockUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    mjml: BlockMjml | None = Field(default=None, description=MJML_HELP)


class TemplateBlock(BaseModel):
    id: uuid.UUID
    name: str
    mjml: str
    created_at: datetime
    updated_at: datetime


class TemplateBlockList(BaseModel):
    data: list[TemplateBlock]
    next_cursor: str | None = None
