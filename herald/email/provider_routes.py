"""HTTP handlers for the email provider list (Settings → Email): the failover order, each
provider's health, "check connection", resetting a breaker, and a test email."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from herald.email import configuration, dns, guard, provider_list
from herald.email import provider_schemas as schemas
from herald.email.claiming import dkim_key
from herald.email.providers import SendError, get_provider
from herald.email.schemas import Message, MessageDetail
from herald.errors import ErrorResponse, InvalidInput
from herald.messaging import service as messages
from herald.models import SendingPause
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["email"], route_class=JsonBodyRoute)

TEST_SUBJECT = "Herald test email"
TEST_HTML = (
    "<html><body><p>This is a test email from Herald.</p>"
    "<p>If you can read it, {{ organization.name }} can send email.</p></body></html>"
)


@router.get("/api/email/providers", operation_id="list_email_providers")
def list_email_providers(auth: ManagementAuth, session: DbSession) -> schemas.ProviderList:
    """The providers in failover order, each with its health. With none, email goes through
    the single provider of the sending settings (the outbox by default)."""
    auth.require_role("admin")
    return schemas.ProviderList(
        data=[provider_list.to_schema(r) for r in provider_list.list_entries(session, auth.org_id)]
    )


@router.post(
    "/api/email/providers",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_email_provider",
    responses={422: {"model": ErrorResponse}},
)
def create_email_provider(
    body: schemas.ProviderCreate, auth: ManagementAuth, session: DbSession
) -> schemas.Provider:
    """Add a provider to the list (admins). Its secrets are stored encrypted and never shown."""
    auth.require_role("admin")
    return provider_list.to_schema(provider_list.create(session, auth.org_id, body))


@router.get("/api/email/providers/{provider_id}", operation_id="get_email_provider")
def get_email_provider(
    provider_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Provider:
    """One provider of the list, with its health."""
    auth.require_role("admin")
    return provider_list.to_schema(provider_list.get_entry(session, auth.org_id, provider_id))


@router.put(
    "/api/email/providers/{provider_id}",
    operation_id="update_email_provider",
    responses={422: {"model": ErrorResponse}},
)
def update_email_provider(
    provider_id: uuid.UUID, body: schemas.ProviderUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.Provider:
    """Replace an entry (admins); a secret left out of `config` is kept."""
    auth.require_role("admin")
    return provider_list.to_schema(provider_list.update(session, auth.org_id, provider_id, body))


@router.delete(
    "/api/email/providers/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_email_provider",
)
def delete_email_provider(provider_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> None:
    """Remove an entry (admins). Messages it sent keep their record."""
    auth.require_role("admin")
    provider_list.delete(session, auth.org_id, provider_id)


@router.post("/api/email/providers/{provider_id}/check", operation_id="check_email_provider")
def check_email_provider(
    provider_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.CheckResult:
    """Ask the provider now whether these settings can send: SMTP connects and logs in; the
    API providers make one authenticated call. Nothing is sent."""
    auth.require_role("admin")
    row = provider_list.get_entry(session, auth.org_id, provider_id)
    settings = configuration.get_row(session, auth.org_id)
    sender = settings.default_from_email if settings else None
    return provider_list.check(row, sender.rsplit("@", 1)[-1] if sender else None)


@router.post("/api/email/providers/{provider_id}/reset", operation_id="reset_email_provider")
def reset_email_provider(
    provider_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Provider:
    """Close the provider's circuit breaker now (after fixing its account), forgetting its
    recent errors."""
    auth.require_role("admin")
    return provider_list.to_schema(provider_list.reset(session, auth.org_id, provider_id))


@router.post(
    "/api/email/dns-check",
    operation_id="check_email_dns",
    responses={422: {"model": ErrorResponse}},
)
def check_email_dns(
    body: schemas.DnsCheckRequest, auth: ManagementAuth, session: DbSession
) -> schemas.DnsCheck:
    """Look up the sending domain's SPF, DKIM and DMARC records now and compare each with what
    the enabled providers of the list (and Herald's own DKIM key) need: ok, missing, wrong (with
    the value to publish) or unknown."""
    auth.require_role("admin")
    settings = configuration.get_row(session, auth.org_id)
    domain = body.domain
    if domain is None and settings is not None and settings.default_from_email:
        domain = settings.default_from_email.rsplit("@", 1)[-1]
    if domain is None:
        raise InvalidInput.for_field("domain", "needed without a default sender")
    if not dns.valid_domain(domain):
        raise InvalidInput.for_field("domain", "not a domain name")
    senders = provider_list.dns_senders(session, auth.org_id, domain)
    if not senders and settings is not None and settings.provider == "smtp":
        senders = [dns.Sender("SMTP", "smtp", {})]
    records = dns.check(domain, senders, dkim_key(settings))
    return schemas.DnsCheck(
        domain=domain.strip().lower().rstrip("."),
        records=[schemas.DnsRecord(**vars(record)) for record in records],
    )


@router.post("/api/email/settings/check", operation_id="check_email_settings")
def check_email_settings(auth: ManagementAuth, session: DbSession) -> schemas.CheckResult:
    """Check the single provider of the sending settings now (SMTP: connect, TLS, login)."""
    auth.require_role("admin")
    settings = configuration.get_row(session, auth.org_id)
    try:
        provider = get_provider(settings)
    except SendError as exc:
        return schemas.CheckResult(ok=False, detail=str(exc))
    return provider_list.check_provider(provider)


@router.post(
    "/api/email/test",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="send_test_email",
    responses={422: {"model": ErrorResponse}},
)
def send_test_email(
    body: schemas.TestEmailRequest, auth: ManagementAuth, session: DbSession
) -> MessageDetail:
    """Send a short transactional email through the current setup; follow it at
    `GET /api/messages/{id}`."""
    auth.require_role("admin")
    message = messages.queue_email(
        session,
        auth.org_id,
        source="transactional",
        idempotency_key=f"test:{uuid.uuid4()}",
        to_address=body.to,
        raw=messages.RawContent(subject=TEST_SUBJECT, html=TEST_HTML, text=None),
    )
    return MessageDetail(**Message.model_validate(message).model_dump(), events=[])


def _deliverability(session: DbSession, org_id: uuid.UUID) -> schemas.DeliverabilityGuard:
    verdict = guard.judge(session, org_id)
    pause = session.get(SendingPause, org_id)
    paused = pause is not None and pause.paused
    return schemas.DeliverabilityGuard(
        since=verdict.since,
        rates=[
            schemas.ProviderRates(
                provider=r.provider,
                sent=r.sent,
                bounced=r.bounced,
                complained=r.complained,
                bounce_rate=r.bounce_rate,
                complaint_rate=r.complaint_rate,
            )
            for r in verdict.rates
        ],
        warnings=verdict.warnings,
        paused=paused,
        pause_reason=pause.reason if pause is not None and paused else None,
        paused_at=pause.paused_at if pause is not None and paused else None,
    )


@router.get("/api/email/deliverability", operation_id="get_deliverability")
def get_deliverability(auth: ManagementAuth, session: DbSession) -> schemas.DeliverabilityGuard:
    """Bounce and complaint rates per provider over the last 7 days (or since the last resume),
    warnings, and whether marketing email is paused."""
    return _deliverability(session, auth.org_id)


@router.post("/api/email/deliverability/resume", operation_id="resume_marketing_email")
def resume_marketing_email(auth: ManagementAuth, session: DbSession) -> schemas.DeliverabilityGuard:
    """Resume marketing email the guard paused (admins); rates count again from now. Held
    messages go out within a few minutes."""
    auth.require_role("admin")
    guard.resume(session, auth.org_id)
    return _deliverability(session, auth.org_id)
