"""Email providers behind one interface; `get_provider` picks an organization's single provider
(the outbox, or SMTP from its settings), `build_provider` one entry of its failover list."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from herald.email.providers.base import (
    EmailProvider,
    NotYet,
    OutgoingEmail,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    SendResult,
    TransientSendError,
)
from herald.email.providers.outbox import OutboxProvider
from herald.email.providers.postmark import PostmarkConfig, PostmarkProvider
from herald.email.providers.sendgrid import SendGridConfig, SendGridProvider
from herald.email.providers.ses import SesConfig, SesProvider
from herald.email.providers.smtp import SmtpConfig, SmtpProvider
from herald.models import EmailProviderEntry, EmailSettings
from herald.security import decrypt, encrypt
from herald.settings import get_settings

PROVIDERS = ("outbox", "smtp")
# What an entry of the failover list may be, and the settings each takes.
KINDS: dict[str, type[BaseModel] | None] = {
    "outbox": None,
    "smtp": SmtpConfig,
    "ses": SesConfig,
    "sendgrid": SendGridConfig,
    "postmark": PostmarkConfig,
}

__all__ = [
    "KINDS",
    "PROVIDERS",
    "EmailProvider",
    "NotYet",
    "OutgoingEmail",
    "PermanentSendError",
    "ProviderUnavailable",
    "SendError",
    "SendResult",
    "TransientSendError",
    "build_provider",
    "decrypt_config",
    "decrypt_entry",
    "encrypt_config",
    "get_provider",
]


def decrypt_config(settings_row: EmailSettings | None) -> dict[str, Any]:
    if settings_row is None or not settings_row.provider_config:
        return {}
    value = json.loads(decrypt(settings_row.provider_config))
    return value if isinstance(value, dict) else {}


def decrypt_entry(row: EmailProviderEntry) -> dict[str, Any]:
    value = json.loads(decrypt(row.config)) if row.config else {}
    return value if isinstance(value, dict) else {}


def encrypt_config(config: dict[str, Any]) -> str:
    return encrypt(json.dumps(config, separators=(",", ":"), sort_keys=True))


def build_provider(kind: str, config: dict[str, Any]) -> EmailProvider:
    """The provider of this kind with these settings. Settings it cannot work with raise
    ProviderUnavailable (the provider, not a message, is at fault)."""
    if kind == "outbox":
        return OutboxProvider(get_settings().data_dir)
    model = KINDS.get(kind)
    if model is None:
        raise ProviderUnavailable(f"unknown email provider {kind!r}")
    try:
        settings = model.model_validate(config)
    except ValidationError as exc:
        raise ProviderUnavailable(f"the {kind} settings are incomplete: {exc}") from exc
    if isinstance(settings, SmtpConfig):
        return SmtpProvider(settings)
    if isinstance(settings, SesConfig):
        return SesProvider(settings)
    if isinstance(settings, SendGridConfig):
        return SendGridProvider(settings)
    assert isinstance(settings, PostmarkConfig)
    return PostmarkProvider(settings)


def get_provider(settings_row: EmailSettings | None) -> EmailProvider:
    """The organization's provider; the outbox when it configured none. A provider that cannot
    work with its stored configuration raises PermanentSendError."""
    name = settings_row.provider if settings_row is not None else "outbox"
    if name == "outbox":
        return OutboxProvider(get_settings().data_dir)
    if name == "smtp":
        try:
            config = SmtpConfig.model_validate(decrypt_config(settings_row).get("smtp", {}))
        except ValueError as exc:
            raise PermanentSendError(f"the SMTP settings are incomplete: {exc}") from exc
        return SmtpProvider(config)
    raise PermanentSendError(f"unknown email provider {name!r}")
