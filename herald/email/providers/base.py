"""What every email provider implements: take one finished MIME message, hand it on, say how."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    """One message ready to go: the MIME bytes are final (headers, parts, DKIM signature)."""

    message_id: uuid.UUID
    org_id: uuid.UUID
    # Stable across retries of the same message; given to providers that deduplicate by a key.
    idempotency_key: str
    envelope_from: str
    envelope_to: list[str] = field(default_factory=list)
    mime: bytes = b""


@dataclass(frozen=True)
class SendResult:
    """The provider's id for the message, to match its delivery reports later."""

    provider_message_id: str


class SendError(Exception):
    """The provider did not take the message. `code` is the provider's (an SMTP reply code)."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """Worth retrying later: a 4xx reply, a timeout, a dropped connection."""


class PermanentSendError(SendError):
    """Retrying cannot help: a 5xx reply, a refused recipient, a configuration the provider
    rejects."""


class EmailProvider(Protocol):
    name: str

    def send(self, email: OutgoingEmail) -> SendResult:
        """Hand the message over, or raise TransientSendError / PermanentSendError."""
        ...


class NotYet(Exception):
    """The message may not go now but must not fail either: it waits until `until` (an SMS in
    the recipient's quiet hours, a daily limit reached)."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason
