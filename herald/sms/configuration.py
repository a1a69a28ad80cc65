"""Each organization's SMS settings: Twilio credentials (encrypted at rest), senders, keyword
replies, quiet hours and limits."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.orm import Session

from herald.email.providers.base import SendError
from herald.errors import FieldError, InvalidInput
from herald.models import Organization, SmsSettings
from herald.security import decrypt, encrypt
from herald.settings import get_settings
from herald.sms import keywords, schemas
from herald.sms.twilio import TwilioClient, TwilioCredentials

INBOUND_PATH = "/webhooks/twilio/{org_id}/inbound"
STATUS_PATH = "/webhooks/twilio/{org_id}/status"


def get_row(session: Session, org_id: uuid.UUID) -> SmsSettings | None:
    # The organization's id is the row's key: no other organization's row can be read.
    return session.get(SmsSettings, org_id)


def credentials(row: SmsSettings | None) -> TwilioCredentials | None:
    if row is None or not row.account_sid or not row.credentials:
        return None
    token = json.loads(decrypt(row.credentials)).get("auth_token")
    return TwilioCredentials(row.account_sid, token) if token else None


def webhook_url(path: str, org_id: uuid.UUID) -> str:
    return get_settings().base_url.rstrip("/") + path.format(org_id=org_id)


def to_schema(session: Session, org_id: uuid.UUID) -> schemas.SmsSettings:
    row = get_row(session, org_id)
    organization = session.get(Organization, org_id)
    assert organization is not None
    defaults = SmsSettings(quiet_hours=True, quiet_start=21, quiet_end=8, require_opt_out=True)
    shown = row or defaults
    return schemas.SmsSettings(
        configured=is_configured(row),
        account_sid=shown.account_sid,
        auth_token_set=bool(shown.credentials),
        sender_numbers=list(shown.sender_numbers or []),
        messaging_service_sid=shown.messaging_service_sid,
        brand_name=shown.brand_name,
        stop_reply=keywords.reply_for("stop", row, organization.name),
        start_reply=keywords.reply_for("start", row, organization.name),
        help_reply=keywords.reply_for("help", row, organization.name),
        custom_replies=[k for k in ("stop", "start", "help") if getattr(shown, f"{k}_reply")],
        quiet_hours=shown.quiet_hours,
        quiet_start=shown.quiet_start,
        quiet_end=shown.quiet_end,
        per_second=shown.per_second,
        per_day=shown.per_day,
        per_number_per_second=shown.per_number_per_second,
        require_opt_out=shown.require_opt_out,
        inbound_webhook_url=webhook_url(INBOUND_PATH, org_id),
        status_callback_url=webhook_url(STATUS_PATH, org_id),
        updated_at=row.updated_at if row else None,
    )


def is_configured(row: SmsSettings | None) -> bool:
    return credentials(row) is not None and bool(
        row is not None and (row.sender_numbers or row.messaging_service_sid)
    )


def update(session: Session, org_id: uuid.UUID, body: schemas.SmsSettingsUpdate) -> SmsSettings:
    """Replace the settings with `body`, keeping a stored auth token the body leaves out."""
    row = get_row(session, org_id)
    errors: list[FieldError] = []
    token = body.auth_token
    if token is None and row is not None and "auth_token" not in body.model_fields_set:
        stored = credentials(row)
        token = stored.auth_token if stored else None
    if body.account_sid and not token:
        errors.append(FieldError("auth_token", "needed with an account SID"))
    if token and not body.account_sid:
        errors.append(FieldError("account_sid", "needed with an auth token"))
    if body.quiet_hours and body.quiet_start == body.quiet_end:
        errors.append(FieldError("quiet_end", "must differ from quiet_start"))
    if errors:
        raise InvalidInput("; ".join(f"{e.field}: {e.reason}" for e in errors), errors)
    if row is None:
        row = SmsSettings(org_id=org_id)
        session.add(row)
    row.provider = "twilio"
    row.account_sid = body.account_sid
    row.credentials = encrypt(json.dumps({"auth_token": token})) if token else None
    for name in (
        "sender_numbers",
        "messaging_service_sid",
        "brand_name",
        "stop_reply",
        "start_reply",
        "help_reply",
        "quiet_hours",
        "quiet_start",
        "quiet_end",
        "per_second",
        "per_day",
        "per_number_per_second",
        "require_opt_out",
    ):
        setattr(row, name, getattr(body, name))
    session.flush()
    return row


def check_connection(session: Session, org_id: uuid.UUID) -> schemas.ConnectionCheck:
    """Call Twilio's account endpoint with the stored credentials."""
    found = credentials(get_row(session, org_id))
    if found is None:
        return schemas.ConnectionCheck(ok=False, error="no Twilio credentials are saved")
    client = TwilioClient(found)
    try:
        account = client.account()
    except SendError as exc:
        return schemas.ConnectionCheck(ok=False, error=str(exc))
    finally:
        client.close()
    return schemas.ConnectionCheck(
        ok=account.get("status", "active") == "active",
        account_name=account.get("friendly_name"),
        account_status=account.get("status"),
    )
