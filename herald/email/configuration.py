"""An organization's sending settings: the provider and its (encrypted) configuration, default
sender, postal address and DKIM key."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from herald.email import mime, schemas
from herald.email.providers import decrypt_config, encrypt_config
from herald.errors import FieldError, InvalidInput
from herald.models import EmailSettings
from herald.security import decrypt, encrypt


def get_row(session: Session, org_id: uuid.UUID) -> EmailSettings | None:
    return session.get(EmailSettings, org_id)


def to_schema(row: EmailSettings | None) -> schemas.EmailSettings:
    if row is None:
        return schemas.EmailSettings(
            provider="outbox",
            smtp=None,
            default_from_name=None,
            default_from_email=None,
            default_reply_to=None,
            postal_address=None,
            dkim_domain=None,
            dkim_selector=None,
            dkim_key_set=False,
            dkim_record=None,
            updated_at=None,
        )
    stored = decrypt_config(row).get("smtp")
    smtp = None
    if stored:
        smtp = schemas.SmtpSettings(
            host=stored["host"],
            port=stored.get("port", 587),
            security=stored.get("security", "starttls"),
            username=stored.get("username"),
            password_set=bool(stored.get("password")),
            timeout=stored.get("timeout", 30.0),
            verify_certificate=stored.get("verify_certificate", True),
            ca_certificate=stored.get("ca_certificate"),
            helo_hostname=stored.get("helo_hostname"),
        )
    record = None
    if row.dkim_private_key and row.dkim_domain and row.dkim_selector:
        record = schemas.DkimRecord(
            name=f"{row.dkim_selector}._domainkey.{row.dkim_domain}",
            value=mime.dkim_dns_value(decrypt(row.dkim_private_key)),
        )
    return schemas.EmailSettings(
        provider="smtp" if row.provider == "smtp" else "outbox",
        smtp=smtp,
        default_from_name=row.default_from_name,
        default_from_email=row.default_from_email,
        default_reply_to=row.default_reply_to,
        postal_address=row.postal_address,
        dkim_domain=row.dkim_domain,
        dkim_selector=row.dkim_selector,
        dkim_key_set=bool(row.dkim_private_key),
        dkim_record=record,
        updated_at=row.updated_at,
    )


def update(session: Session, org_id: uuid.UUID, body: schemas.EmailSettingsUpdate) -> EmailSettings:
    """Replace the settings with `body`, keeping stored secrets the body leaves out."""
    row = get_row(session, org_id)
    if row is None:
        row = EmailSettings(org_id=org_id, provider="outbox")
        session.add(row)
    config: dict[str, Any] = decrypt_config(row)
    errors: list[FieldError] = []

    if body.smtp is not None:
        previous = config.get("smtp") or {}
        smtp = body.smtp.model_dump(exclude={"password"})
        if "password" in body.smtp.model_fields_set:
            smtp["password"] = body.smtp.password
        else:
            smtp["password"] = previous.get("password")
        if smtp["ca_certificate"]:
            try:
                from herald.email.providers.smtp import SmtpConfig, tls_context

                tls_context(SmtpConfig.model_validate(smtp))
            except Exception:
                errors.append(FieldError("smtp.ca_certificate", "not a PEM certificate"))
        config["smtp"] = smtp
    if body.provider == "smtp" and not config.get("smtp"):
        errors.append(FieldError("smtp", "needed to send with SMTP"))

    key_pem: str | None
    if "dkim_private_key" in body.model_fields_set:
        key_pem = None
        if body.dkim_private_key:
            try:
                key_pem = mime.check_dkim_key(body.dkim_private_key)
            except ValueError as exc:
                errors.append(FieldError("dkim_private_key", str(exc)))
    else:
        key_pem = decrypt(row.dkim_private_key) if row.dkim_private_key else None
    if key_pem is not None:
        if body.dkim_domain is None:
            errors.append(FieldError("dkim_domain", "needed with a DKIM key"))
        if body.dkim_selector is None:
            errors.append(FieldError("dkim_selector", "needed with a DKIM key"))
    elif (body.dkim_domain or body.dkim_selector) and not body.dkim_private_key:
        errors.append(FieldError("dkim_private_key", "needed with a DKIM domain and selector"))
    if errors:
        raise InvalidInput("; ".join(f"{e.field}: {e.reason}" for e in errors), errors)

    row.provider = body.provider
    row.provider_config = encrypt_config(config) if config else None
    row.default_from_name = body.default_from_name
    row.default_from_email = body.default_from_email
    row.default_reply_to = body.default_reply_to
    row.postal_address = body.postal_address
    row.dkim_domain = body.dkim_domain
    row.dkim_selector = body.dkim_selector
    row.dkim_private_key = encrypt(key_pem) if key_pem is not None else None
    session.flush()
    return row
