"""The organization's email provider list: adding, changing, ordering and removing entries,
checking a connection, and each entry's health as the failover router left it."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.email import dns, failover
from herald.email import provider_schemas as schemas
from herald.email.providers import KINDS, build_provider, decrypt_entry, encrypt_config
from herald.email.providers.base import EmailProvider, SendError
from herald.email.providers.ses import SesProvider, dkim_tokens_of
from herald.errors import FieldError, InvalidInput
from herald.models import EmailProviderEntry
from herald.outbound import DestinationRefused, check_url
from herald.tenancy.scope import get_scoped, scoped

logger = logging.getLogger(__name__)

# Settings never shown again once stored.
SECRETS: dict[str, tuple[str, ...]] = {
    "smtp": ("password",),
    "ses": ("secret_access_key",),
    "sendgrid": ("api_key",),
    "postmark": ("server_token", "webhook_password"),
}
MAX_PROVIDERS = 10


def list_entries(session: Session, org_id: uuid.UUID) -> list[EmailProviderEntry]:
    return list(
        session.scalars(
            scoped(EmailProviderEntry, org_id).order_by(
                EmailProviderEntry.position, EmailProviderEntry.created_at
            )
        )
    )


def get_entry(session: Session, org_id: uuid.UUID, provider_id: uuid.UUID) -> EmailProviderEntry:
    return get_scoped(session, EmailProviderEntry, org_id, provider_id)


def _checked_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The settings as the kind's model reads them, or InvalidInput naming each bad field."""
    model = KINDS[kind]
    if model is None:
        if config:
            raise InvalidInput.for_field("config", "the outbox takes no settings")
        return {}
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        raise InvalidInput.for_fields(
            [
                FieldError(
                    "config." + ".".join(str(p) for p in error["loc"])
                    if error["loc"]
                    else "config",
                    error["msg"],
                )
                for error in exc.errors()
            ]
        ) from None
    endpoint = getattr(parsed, "endpoint_url", None)
    if endpoint:
        try:
            check_url(endpoint)
        except DestinationRefused as exc:
            raise InvalidInput.for_field("config.endpoint_url", str(exc)) from None
    return parsed.model_dump(exclude_none=True)


def _merged(kind: str, previous: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The given settings, with each secret the body left out taken from what was stored."""
    merged = dict(given)
    for name in SECRETS.get(kind, ()):
        if name not in merged and previous.get(name) is not None:
            merged[name] = previous[name]
    return merged


def create(session: Session, org_id: uuid.UUID, body: schemas.ProviderCreate) -> EmailProviderEntry:
    existing = list_entries(session, org_id)
    if len(existing) >= MAX_PROVIDERS:
        raise InvalidInput.for_field("kind", f"an organization has at most {MAX_PROVIDERS}")
    config = _checked_config(body.kind, body.config)
    position = body.position
    if position is None:
        position = max((e.position for e in existing), default=-1) + 1
    row = EmailProviderEntry(
        org_id=org_id,
        kind=body.kind,
        label=body.label,
        position=position,
        enabled=body.enabled,
        per_second=body.per_second,
        per_day=body.per_day,
        config=encrypt_config(config),
        state=failover.CLOSED,
        consecutive_failures=0,
        window_attempts=0,
        window_errors=0,
        sent_total=0,
        failed_total=0,
    )
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, org_id: uuid.UUID, provider_id: uuid.UUID, body: schemas.ProviderUpdate
) -> EmailProviderEntry:
    row = get_entry(session, org_id, provider_id)
    config = _checked_config(row.kind, _merged(row.kind, decrypt_entry(row), body.config))
    row.label = body.label
    row.position = body.position
    row.enabled = body.enabled
    row.per_second = body.per_second
    row.per_day = body.per_day
    row.config = encrypt_config(config)
    session.flush()
    return row


def delete(session: Session, org_id: uuid.UUID, provider_id: uuid.UUID) -> None:
    session.delete(get_entry(session, org_id, provider_id))
    session.flush()


def check(row: EmailProviderEntry, from_domain: str | None) -> schemas.CheckResult:
    """Ask the provider whether these settings can send (a signed call, a login), now."""
    try:
        provider = build_provider(row.kind, decrypt_entry(row))
    except SendError as exc:
        return schemas.CheckResult(ok=False, detail=str(exc))
    return check_provider(provider, from_domain)


def check_provider(provider: EmailProvider, from_domain: str | None = None) -> schemas.CheckResult:
    checker = getattr(provider, "check", None)
    if checker is None:
        return schemas.CheckResult(
            ok=True, detail="nothing to check: messages stay on this machine"
        )
    try:
        return schemas.CheckResult(ok=True, detail=str(checker(from_domain)))
    except (SendError, DestinationRefused) as exc:
        return schemas.CheckResult(ok=False, detail=str(exc))


def dns_senders(session: Session, org_id: uuid.UUID, domain: str) -> list[dns.Sender]:
    """The enabled providers of the list, as the DNS check needs them. An SES provider without
    its Easy DKIM tokens in its settings is asked for them (one signed call); one that cannot
    say is checked without them."""
    senders = []
    for route in failover.routes_for(session, org_id):
        config = route.config
        if route.kind == "ses" and not config.get("dkim_tokens"):
            try:
                provider = build_provider(route.kind, config)
                assert isinstance(provider, SesProvider)
                config = {**config, "dkim_tokens": dkim_tokens_of(provider, domain)}
            except (SendError, DestinationRefused) as exc:
                logger.info("SES gave no DKIM tokens for %s: %s", domain, exc)
        senders.append(dns.Sender(route.label, route.kind, config))
    return senders


def reset(session: Session, org_id: uuid.UUID, provider_id: uuid.UUID) -> EmailProviderEntry:
    row = get_entry(session, org_id, provider_id)
    failover.reset(session, row)
    return row


def to_schema(row: EmailProviderEntry) -> schemas.Provider:
    config = decrypt_entry(row)
    secrets = SECRETS.get(row.kind, ())
    recent = (
        row.window_started_at is not None
        and utcnow() - row.window_started_at <= failover.breaker().window + timedelta(seconds=5)
    )
    attempts = row.window_attempts if recent else 0
    return schemas.Provider(
        id=row.id,
        kind=row.kind,
        label=row.label,
        position=row.position,
        enabled=row.enabled,
        per_second=row.per_second,
        per_day=row.per_day,
        config={k: v for k, v in config.items() if k not in secrets},
        secrets_set=[name for name in secrets if config.get(name)],
        webhook_path=f"/webhooks/{row.kind}/{row.id}"
        if row.kind in ("ses", "sendgrid", "postmark")
        else None,
        health=schemas.ProviderHealth(
            state=row.state,
            error_rate=(row.window_errors / attempts) if attempts else None,
            recent_attempts=attempts,
            latency_ms=round(row.latency_ms, 2) if row.latency_ms is not None else None,
            sent=row.sent_total,
            failed=row.failed_total,
            consecutive_failures=row.consecutive_failures,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            last_success_at=row.last_success_at,
            opened_at=row.opened_at,
        ),
        created_at=row.created_at,
    )


def count(session: Session, org_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(EmailProviderEntry)
            .where(EmailProviderEntry.org_id == org_id)
        )
        or 0
    )
