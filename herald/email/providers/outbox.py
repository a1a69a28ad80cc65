"""The default provider: nothing leaves the machine. Each message is stored as an .eml file in the
data directory and shown in the dashboard's Outbox screen."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from herald.email.providers.base import OutgoingEmail, SendResult, TransientSendError

OUTBOX_DIR = "outbox"


def outbox_path(data_dir: Path, org_id: uuid.UUID, message_id: uuid.UUID) -> Path:
    return data_dir / OUTBOX_DIR / str(org_id) / f"{message_id}.eml"


def provider_message_id(message_id: uuid.UUID) -> str:
    return f"outbox-{message_id}"


class OutboxProvider:
    name = "outbox"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def send(self, email: OutgoingEmail) -> SendResult:
        """Write `<data_dir>/outbox/<org_id>/<message_id>.eml`. A message already stored (a retry
        after a crash that came between storing and recording) is left as it was: the outbox
        holds each message once."""
        path = outbox_path(self.data_dir, email.org_id, email.message_id)
        result = SendResult(provider_message_id=provider_message_id(email.message_id))
        if path.exists():
            return result
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside its final name, then renamed: a reader never sees half a message.
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(email.mime)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:  # a full or read-only disk may recover
            raise TransientSendError(f"could not store the message in the outbox: {exc}") from exc
        return result


def read_stored(data_dir: Path, org_id: uuid.UUID, message_id: uuid.UUID) -> bytes | None:
    """The stored MIME message, or None when the outbox does not hold it."""
    try:
        return outbox_path(data_dir, org_id, message_id).read_bytes()
    except FileNotFoundError:
        return None
