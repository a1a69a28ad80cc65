"""Request and response models for messages, the outbox and the sending settings."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from herald.validation import Email, StorableText, Text255, unstorable_values

MAX_HTML = 1_000_000
MAX_TEXT = 500_000

Subject = Annotated[str, StringConstraints(min_length=1, max_length=998), StorableText]
Html = Annotated[str, StringConstraints(min_length=1, max_length=MAX_HTML), StorableText]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), StorableText]
PemText = Annotated[str, StringConstraints(max_length=20_000), StorableText]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SELECTOR = re.compile(
    r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)*$"
)


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _HOSTNAME.match(value):
        raise ValueError("not a domain name (for example example.com)")
    return value


def _selector(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 63 or not _SELECTOR.match(value):
        raise ValueError("letters, digits, - and _ only (for example herald1)")
    return value


Domain = Annotated[str, AfterValidator(_domain)]
Selector = Annotated[str, AfterValidator(_selector)]


# --- Messages -----------------------------------------------------------------------------------


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: uuid.UUID | None = Field(default=None, description="A profile with an email.")
    email: Email | None = Field(
        default=None,
        description="An address. No profile is created; a profile with this email is linked.",
    )

    @model_validator(mode="after")
    def _one(self) -> Recipient:
        if (self.profile_id is None) == (self.email is None):
            raise ValueError("give exactly one of profile_id and email")
        return self


class SendEmailRequest(BaseModel):
    """A template, or a subject and an HTML body (and optionally a text body). Personalization
    (`{{ profile.first_name }}`, `{{ data.order_id }}`) works in either."""

    model_config = ConfigDict(extra="forbid")

    to: Recipient
    template_id: uuid.UUID | None = None
    subject: Subject | None = None
    html: Html | None = None
    text: Text | None = Field(default=None, description="Generated from the HTML when left out.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Available to the template as `data`."
    )
    marketing: bool = Field(
        default=False,
        description="Marketing email respects unsubscribes and consent and carries "
        "List-Unsubscribe headers; transactional email only stops for bounces, complaints and "
        "manual suppressions.",
    )
    send_at: AwareDatetime | None = Field(default=None, description="Not before this time.")

    @field_validator("data")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = unstorable_values(value)
        if problems:
            raise ValueError(f"{problems[0].field}: {problems[0].reason}")
        return value

    @model_validator(mode="after")
    def _content(self) -> SendEmailRequest:
        raw = self.subject is not None or self.html is not None or self.text is not None
        if self.template_id is not None and raw:
            raise ValueError("give template_id, or subject and html, not both")
        if self.template_id is None and (self.subject is None or self.html is None):
            raise ValueError("give template_id, or subject and html")
        return self


class MessageEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    at: datetime
    machine: bool
    data: dict[str, Any]


class Message(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    source: str
    source_id: uuid.UUID | None
    marketing: bool
    status: Literal[
        "queued",
        "sending",
        "sent",
        "delivered",
        "bounced",
        "complained",
        "failed",
        "suppressed",
        "skipped",
    ]
    to_address: str
    profile_id: uuid.UUID | None
    template_id: uuid.UUID | None
    subject: str | None = Field(description="Filled in when the message is rendered.")
    from_address: str | None
    attempts: int
    send_after: datetime | None
    provider: str | None
    provider_message_id: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime


class MessageDetail(Message):
    source_name: str | None = Field(
        default=None,
        description="The name of the campaign or flow that sent it (`source_id`); null for the "
        "transactional API or when that campaign or flow was deleted.",
    )
    events: list[MessageEvent]


class MessageList(BaseModel):
    data: list[Message]
    next_cursor: str | None


# --- The outbox ---------------------------------------------------------------------------------


class OutboxEntry(BaseModel):
    id: uuid.UUID
    to_address: str
    from_address: str | None
    subject: str | None
    source: str
    marketing: bool
    sent_at: datetime | None
    created_at: datetime


class OutboxList(BaseModel):
    data: list[OutboxEntry]
    next_cursor: str | None


class MailHeader(BaseModel):
    name: str
    value: str


class OutboxMessage(BaseModel):
    """A stored message as a mail client would read it."""

    id: uuid.UUID
    message: Message
    headers: list[MailHeader] = Field(description="Every header, in order.")
    from_: str | None = Field(alias="from")
    to: str | None
    subject: str | None
    date: str | None
    html: str | None = Field(description="Show it sandboxed: it is the email as sent.")
    text: str | None
    size: int = Field(description="Bytes of the MIME message.")

    model_config = ConfigDict(populate_by_name=True)


# --- Settings -----------------------------------------------------------------------------------


class SmtpSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253)]
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="starttls (port 587), ssl (implicit TLS, port 465) or none (a local relay).",
    )
    username: Text255 | None = None
    password: Annotated[str, StringConstraints(max_length=1024), StorableText] | None = Field(
        default=None,
        description="Write-only. Left out, the stored password is kept; null removes it.",
    )
    timeout: float = Field(default=30.0, gt=0, le=120)
    verify_certificate: bool = True
    ca_certificate: Annotated[str, StringConstraints(max_length=20_000), StorableText] | None = (
        Field(default=None, description="A PEM CA certificate to trust besides the system's.")
    )
    helo_hostname: Domain | None = None


class SmtpSettings(BaseModel):
    host: str
    port: int
    security: Literal["starttls", "ssl", "none"]
    username: str | None
    password_set: bool
    timeout: float
    verify_certificate: bool
    ca_certificate: str | None
    helo_hostname: str | None


class EmailSettingsUpdate(BaseModel):
    """The whole sending setup. Secrets (the SMTP password, the DKIM key) are write-only: left
    out, the stored one is kept."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["outbox", "smtp"] = "outbox"
    smtp: SmtpSettingsUpdate | None = Field(
        default=None, description="Needed for provider smtp; left out, the stored one is kept."
    )
    default_from_name: Text255 | None = None
    default_from_email: Email | None = None
    default_reply_to: Email | None = None
    postal_address: Annotated[str, StringConstraints(max_length=1000), StorableText] | None = Field(
        default=None, description="Shown in marketing email (CAN-SPAM)."
    )
    dkim_domain: Domain | None = None
    dkim_selector: Selector | None = None
    dkim_private_key: Annotated[str, StringConstraints(max_length=20_000), StorableText] | None = (
        Field(
            default=None,
            description="Write-only PEM RSA private key. Left out, the stored key is kept; null "
            "removes it.",
        )
    )


class DkimRecord(BaseModel):
    name: str = Field(description="Where to publish it: <selector>._domainkey.<domain>")
    type: Literal["TXT"] = "TXT"
    value: str


class EmailSettings(BaseModel):
    provider: Literal["outbox", "smtp"]
    smtp: SmtpSettings | None
    default_from_name: str | None
    default_from_email: str | None
    default_reply_to: str | None
    postal_address: str | None
    dkim_domain: str | None
    dkim_selector: str | None
    dkim_key_set: bool
    dkim_record: DkimRecord | None = Field(description="The DNS record to publish for DKIM.")
    updated_at: datetime | None
