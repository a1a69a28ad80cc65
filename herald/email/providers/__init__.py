"""Email providers behind one interface; `get_provider` picks an organization's."""

from __future__ import annotations

import json
from typing import Any

from herald.email.providers.base import (
    EmailProvider,
    NotYet,
    OutgoingEmail,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
)
from herald.email.providers.outbox import OutboxProvider
from herald.email.providers.smtp import SmtpConfig, SmtpProvider
from herald.models import EmailSettings
from herald.security import decrypt, encrypt
from herald.settings import get_settings

PROVIDERS = ("outbox", "smtp")

__all__ = [
    "PROVIDERS",
    "EmailProvider",
    "NotYet",
    "OutgoingEmail",
    "PermanentSendError",
    "SendError",
    "SendResult",
    "TransientSendError",
    "decrypt_config",
    "encrypt_config",
    "get_provider",
]


def decrypt_config(settings_row: EmailSettings | None) -> dict[str, Any]:
    if settings_row is None or not settings_row.provider_config:
        return {}
    value = json.loads(decrypt(settings_row.provider_config))
    return value if isinstance(value, dict) else {}


def encrypt_config(config: dict[str, Any]) -> str:
    return encrypt(json.dumps(config, separators=(",", ":"), sort_keys=True))


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
