"""Request and response models for email templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from herald.validation import Email, StorableText, Text255

Kind = Literal["marketing", "transactional"]
BodyFormat = Literal["mjml", "html"]
# Gmail clips messages above ~100 KB; a body five times that is a mistake, not a template.
MAX_BODY = 500_000
Subject = Annotated[str, StringConstraints(min_length=1, max_length=998), StorableText]
Preheader = Annotated[str, StringConstraints(max_length=1000), StorableText]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY), StorableText]
TextBody = Annotated[str, StringConstraints(max_length=MAX_BODY), StorableText]
TemplateName = Annotated[Text255, StringConstraints(min_length=1)]
StarterKey = Literal[
    "newsletter", "product_announcement", "abandoned_cart", "welcome", "order_confirmation"
]
STARTER_HELP = (
    "Start from a starter template (GET /api/templates/starters): its subject, preheader, kind "
    "and MJML body fill the fields left out. Without a starter, subject and body are required."
)

KIND_HELP = (
    "`marketing` email must contain `{{ unsubscribe_url }}` (or `{{ preferences_url }}`) and "
    "`{{ organization.postal_address }}`; `transactional` email (receipts, password resets) "
    "need not."
)
TEXT_HELP = "The plain-text part; null generates it from the HTML."


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName
    starter: StarterKey | None = Field(default=None, description=STARTER_HELP)
    kind: Kind | None = Field(default=None, description=KIND_HELP + " Default marketing.")
    subject: Subject | None = None
    preheader: Preheader | None = Field(
        default=None, description="TemplatePreview text shown after the subject in most inboxes."
    )
    from_name: Text255 | None = None
    from_email: Email | None = None
    reply_to: Email | None = None
    body_format: BodyFormat | None = Field(default=None, description="Default mjml.")
    body: Body | None = None
    text_body: TextBody | None = Field(default=None, description=TEXT_HELP)


class TemplateUpdate(BaseModel):
    """Fields left out are left alone; the whole template is checked again."""

    model_config = ConfigDict(extra="forbid")

    name: TemplateName | None = None
    kind: Kind | None = None
    subject: Subject | None = None
    preheader: Preheader | None = None
    from_name: Text255 | None = None
    from_email: Email | None = None
    reply_to: Email | None = None
    body_format: BodyFormat | None = None
    body: Body | None = None
    text_body: TextBody | None = Field(default=None, description=TEXT_HELP)


class TemplateSummary(BaseModel):
    id: uuid.UUID
    name: str
    kind: Kind
    subject: str
    body_format: BodyFormat
    created_at: datetime
    updated_at: datetime


class Template(TemplateSummary):
    preheader: str | None
    from_name: str | None
    from_email: str | None
    reply_to: str | None
    body: str
    compiled_html: str = Field(
        description="The body as HTML with its personalization still in it (MJML compiled)."
    )
    text_body: str | None


class TemplateList(BaseModel):
    data: list[TemplateSummary]


class TemplateStarter(BaseModel):
    key: StarterKey
    name: str
    description: str
    kind: Kind
    subject: str
    preheader: str
    mjml: str


class TemplateStarterList(BaseModel):
    data: list[TemplateStarter]


class TemplatePreviewSample(BaseModel):
    """Made-up data for a preview: `profile` stands in for a profile (for example
    `{"first_name": "Ada", "properties": {"plan": "pro"}}`), `data` and `event` are the data a
    send or the event a flow would carry."""

    model_config = ConfigDict(extra="forbid")

    profile: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    event: dict[str, Any] = Field(default_factory=dict)


class TemplatePreviewFor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: uuid.UUID | None = Field(
        default=None, description="Render for this profile (its fields and properties)."
    )
    sample: TemplatePreviewSample | None = None


class TemplatePreviewRequest(TemplatePreviewFor):
    """An unsaved template to preview. Marketing requirements are not enforced here (they are
    when saving); syntax errors and unknown names are."""

    subject: Annotated[str, StringConstraints(max_length=998), StorableText] = ""
    preheader: Preheader | None = None
    body_format: BodyFormat = "mjml"
    body: Body
    text_body: TextBody | None = None


class TemplatePreview(BaseModel):
    subject: str
    preheader: str | None
    html: str
    text: str
