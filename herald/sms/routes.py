"""HTTP handlers for SMS: settings and sending (secret key or dashboard), the segment counter,
a profile's conversation, Twilio's webhooks (signed by Twilio) and short links."""

from __future__ import annotations

import contextlib
import uuid
from xml.sax.saxutils import escape

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from herald.db import get_database
from herald.email.routes import _detail as message_detail
from herald.email.routes import message_key
from herald.email.schemas import MessageDetail
from herald.errors import ErrorResponse, NotFound, PermissionDenied
from herald.messaging.ledger import record_event
from herald.models import Message, Organization
from herald.profiles import service as profiles
from herald.routing import JsonBodyRoute
from herald.settings import get_settings
from herald.sms import configuration, links, schemas, service, templates
from herald.sms.encoding import segment_info
from herald.sms.twilio import SIGNATURE_HEADER, valid_signature
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["sms"], route_class=JsonBodyRoute)
webhooks = APIRouter(tags=["sms webhooks"], include_in_schema=False)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# --- Settings -----------------------------------------------------------------------------------


@router.get("/api/sms/settings", operation_id="get_sms_settings")
def get_sms_settings(auth: ManagementAuth, session: DbSession) -> schemas.SmsSettings:
    """The SMS setup. The auth token is never returned: `auth_token_set` says whether one is
    stored."""
    auth.require_role("admin")
    return configuration.to_schema(session, auth.org_id)


@router.put(
    "/api/sms/settings",
    operation_id="update_sms_settings",
    responses={422: {"model": ErrorResponse}},
)
def update_sms_settings(
    body: schemas.SmsSettingsUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.SmsSettings:
    """Replace the SMS setup (admins). A stored auth token is kept when the body leaves it
    out; `"auth_token": null` removes it."""
    auth.require_role("admin")
    configuration.update(session, auth.org_id, body)
    return configuration.to_schema(session, auth.org_id)


@router.post("/api/sms/settings/check", operation_id="check_sms_connection")
def check_sms_connection(auth: ManagementAuth, session: DbSession) -> schemas.ConnectionCheck:
    """Call Twilio's account endpoint with the saved credentials."""
    auth.require_role("admin")
    return configuration.check_connection(session, auth.org_id)


# --- Sending ------------------------------------------------------------------------------------


@router.post(
    "/api/messages/sms",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="send_sms",
    responses={422: {"model": ErrorResponse}},
)
def send_sms(
    body: schemas.SendSmsRequest,
    auth: ManagementAuth,
    session: DbSession,
    idempotency_key: str | None = Header(
        default=None,
        alias="Idempotency-Key",
        max_length=255,
        description="The same key again returns the first message and sends nothing new.",
    ),
) -> MessageDetail:
    """Queue one SMS (transactional unless `marketing`); a worker sends it through Twilio.
    Follow it at `GET /api/messages/{id}`."""
    message = service.queue_sms(
        session,
        auth.org_id,
        service.SmsRequest(
            idempotency_key=message_key(idempotency_key),
            body=body.body,
            to_profile_id=body.to.profile_id,
            to_number=body.to.phone,
            media_urls=body.media_urls,
            data=body.data,
            send_after=body.send_at,
        ),
        source="transactional",
        marketing=body.marketing,
    )
    return message_detail(session, message)


@router.post("/api/sms/segments", operation_id="count_sms_segments")
def count_sms_segments(
    body: schemas.SegmentCount, auth: ManagementAuth
) -> schemas.SegmentCountResult:
    """How a text is encoded (GSM-7 or UCS-2) and how many segments it takes: the editor's
    counter. Personalization is counted as written."""
    info = segment_info(body.body)
    return schemas.SegmentCountResult(
        encoding="GSM-7" if info.encoding == "GSM-7" else "UCS-2",
        characters=info.characters,
        segments=info.segments,
        per_segment=info.per_segment,
        remaining=info.remaining,
        non_gsm=info.non_gsm,
    )


# --- Saved templates ----------------------------------------------------------------------------


@router.get("/api/sms/templates", operation_id="list_sms_templates")
def list_sms_templates(auth: ManagementAuth, session: DbSession) -> schemas.SmsTemplateList:
    """The organization's saved SMS texts, by name."""
    return schemas.SmsTemplateList(
        data=[
            schemas.SmsTemplate.model_validate(t)
            for t in templates.list_templates(session, auth.org_id)
        ]
    )


@router.post(
    "/api/sms/templates",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_sms_template",
    responses={422: {"model": ErrorResponse}},
)
def create_sms_template(
    body: schemas.SmsTemplateCreate, auth: ManagementAuth, session: DbSession
) -> schemas.SmsTemplate:
    """Save an SMS text; its personalization is checked as SMS campaigns' is (422 naming
    `body`, with line and column)."""
    template = templates.create_template(session, auth.org_id, body.model_dump())
    return schemas.SmsTemplate.model_validate(template)


@router.get("/api/sms/templates/{sms_template_id}", operation_id="get_sms_template")
def get_sms_template(
    sms_template_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.SmsTemplate:
    return schemas.SmsTemplate.model_validate(
        templates.get_template(session, auth.org_id, sms_template_id)
    )


@router.patch(
    "/api/sms/templates/{sms_template_id}",
    operation_id="update_sms_template",
    responses={422: {"model": ErrorResponse}},
)
def update_sms_template(
    sms_template_id: uuid.UUID,
    body: schemas.SmsTemplateUpdate,
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.SmsTemplate:
    template = templates.update_template(
        session, auth.org_id, sms_template_id, body.model_dump(exclude_unset=True)
    )
    return schemas.SmsTemplate.model_validate(template)


@router.delete(
    "/api/sms/templates/{sms_template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_sms_template",
)
def delete_sms_template(
    sms_template_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> Response:
    """Delete it; flow SMS steps that name it are skipped, with the reason, until changed."""
    templates.delete_template(session, auth.org_id, sms_template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/profiles/{profile_id}/sms", operation_id="get_profile_sms")
def get_profile_sms(
    profile_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Conversation:
    """The profile's SMS conversation: what was sent and what they texted back."""
    profile = profiles.get_profile(session, auth.org_id, profile_id)
    return schemas.Conversation(
        data=[
            schemas.ConversationEntry(
                direction="inbound" if item.direction == "inbound" else "outbound",
                id=item.id,
                time=item.time,
                body=item.body,
                status=item.status,
                keyword=item.keyword,
            )
            for item in service.conversation(session, auth.org_id, profile)
        ]
    )


# --- Twilio's webhooks --------------------------------------------------------------------------


def _called_url(request: Request) -> str:
    """The URL Twilio called, as it signed it: Herald's public base URL (a proxy in front may
    change the host the app sees), the path and the query."""
    url = get_settings().base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


async def _verified_form(request: Request, org_id: uuid.UUID) -> dict[str, str]:
    """The webhook's form, if Twilio signed it for this organization; else 403 (or 404 for an
    organization Herald does not have), before anything is changed."""
    form = {key: str(value) for key, value in (await request.form()).multi_items()}
    url = _called_url(request)
    signature = request.headers.get(SIGNATURE_HEADER, "")

    def check() -> None:
        with get_database().transaction() as session:
            if session.get(Organization, org_id) is None:
                raise NotFound("no such organization")
            row = configuration.get_row(session, org_id)
            found = configuration.credentials(row)
        if found is None or form.get("AccountSid") not in (None, found.account_sid):
            raise PermissionDenied("this organization has no Twilio account with that SID")
        if not valid_signature(found.auth_token, url, form, signature):
            raise PermissionDenied("the X-Twilio-Signature does not match")

    await run_in_threadpool(check)
    return form


@webhooks.post("/webhooks/twilio/{org_id}/inbound")
async def twilio_inbound(org_id: uuid.UUID, request: Request) -> Response:
    """A message to one of the organization's numbers: keywords act, replies go back as
    TwiML, everything is stored for the profile's conversation."""
    form = await _verified_form(request, org_id)

    def handle() -> str | None:
        with get_database().transaction() as session:
            return service.handle_inbound(session, org_id, form)

    reply = await run_in_threadpool(handle)
    twiml = EMPTY_TWIML
    if reply:
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Message>{escape(reply)}</Message></Response>"
        )
    return Response(twiml, media_type="text/xml")


@webhooks.post("/webhooks/twilio/{org_id}/status")
async def twilio_status(org_id: uuid.UUID, request: Request) -> Response:
    """A delivery report for a message Herald sent (`message_id` in the callback URL)."""
    form = await _verified_form(request, org_id)
    try:
        message_id = uuid.UUID(request.query_params.get("message_id", ""))
    except ValueError:
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    def handle() -> None:
        # A message erased since has nothing to record, and nothing to retry.
        with get_database().transaction() as session, contextlib.suppress(NotFound):
            service.handle_status(session, org_id, message_id, form)

    await run_in_threadpool(handle)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@webhooks.get("/s/{token}")
def short_link(token: str, request: Request, session: DbSession) -> Response:
    """A link in an SMS: the click is recorded on the message (a touch for attribution), then
    redirected to the URL the message contained, and only there."""
    try:
        message_id, index = links.read_token(token)
    except links.InvalidLink as exc:
        raise NotFound("this link is not valid") from exc
    message = session.get(Message, message_id)
    url = links.link_of(message, index) if message is not None else None
    if message is None or url is None:
        raise NotFound("this link is not valid")
    record_event(
        session,
        message,
        "clicked",
        data={"url": url, "user_agent": (request.headers.get("user-agent") or "")[:300]},
    )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)
