"""HTTP handlers for transactional email, the message ledger, the outbox and sending settings."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from herald.email import configuration, mime, schemas
from herald.email.providers.outbox import read_stored
from herald.errors import ErrorResponse, NotFound
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import Message
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.settings import get_settings
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["email"], route_class=JsonBodyRoute)

KEY_PREFIX = "transactional:"
Status = Annotated[str | None, Query(pattern="^(" + "|".join(ledger.STATUSES) + ")$")]


def message_key(idempotency_key: str | None) -> str:
    """The ledger key of a transactional message: the request's Idempotency-Key (hashed when
    too long for the column with its prefix), else a random one."""
    if idempotency_key is None:
        return f"{KEY_PREFIX}{uuid.uuid4()}"
    if len(KEY_PREFIX) + len(idempotency_key) > 255:
        return f"{KEY_PREFIX}sha256:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"
    return KEY_PREFIX + idempotency_key


def _detail(session: DbSession, message: Message) -> schemas.MessageDetail:
    events = [
        schemas.MessageEvent.model_validate(e) for e in messages.message_events(session, message)
    ]
    return schemas.MessageDetail(
        **schemas.Message.model_validate(message).model_dump(),
        source_name=messages.source_name(session, message),
        events=events,
    )


@router.post(
    "/api/messages/email",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="send_email",
    responses={422: {"model": ErrorResponse}},
)
def send_email(
    body: schemas.SendEmailRequest,
    auth: ManagementAuth,
    session: DbSession,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="The same key again returns the first message and sends nothing new.",
        ),
    ] = None,
) -> schemas.MessageDetail:
    """Queue one email (transactional unless `marketing`); a worker sends it. Follow it at
    `GET /api/messages/{id}`."""
    raw = None
    if body.template_id is None:
        assert body.subject is not None and body.html is not None
        raw = messages.RawContent(subject=body.subject, html=body.html, text=body.text)
    message = messages.queue_email(
        session,
        auth.org_id,
        source="transactional",
        idempotency_key=message_key(idempotency_key),
        to_profile_id=body.to.profile_id,
        to_address=body.to.email,
        template_id=body.template_id,
        raw=raw,
        data=body.data,
        marketing=body.marketing,
        send_after=body.send_at,
    )
    return _detail(session, message)


@router.get("/api/messages", operation_id="list_messages")
def list_messages(
    auth: ManagementAuth,
    session: DbSession,
    limit: PageLimit = 50,
    cursor: str | None = None,
    status: Status = None,
    profile_id: uuid.UUID | None = None,
    source: Annotated[str | None, Query(pattern=f"^({'|'.join(messages.SOURCES)})$")] = None,
    source_id: uuid.UUID | None = None,
) -> schemas.MessageList:
    """Messages, newest first."""
    rows, next_cursor = messages.list_messages(
        session,
        auth.org_id,
        messages.MessageFilter(
            status=status, profile_id=profile_id, source=source, source_id=source_id
        ),
        limit=limit,
        cursor=cursor,
    )
    return schemas.MessageList(
        data=[schemas.Message.model_validate(m) for m in rows], next_cursor=next_cursor
    )


@router.get("/api/messages/{message_id}", operation_id="get_message")
def get_message(
    message_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.MessageDetail:
    """A message's status, provider ids, error and everything that happened to it."""
    return _detail(session, ledger.get_message(session, auth.org_id, message_id))


# --- The outbox ---------------------------------------------------------------------------------


@router.get("/api/outbox", operation_id="list_outbox")
def list_outbox(
    auth: ManagementAuth,
    session: DbSession,
    limit: PageLimit = 50,
    cursor: str | None = None,
    to: Annotated[str | None, Query(max_length=320, description="Only to this address.")] = None,
) -> schemas.OutboxList:
    """Messages the outbox provider stored (nothing left the machine), newest first."""
    rows, next_cursor = messages.list_messages(
        session,
        auth.org_id,
        messages.MessageFilter(status=ledger.SENT, provider="outbox", to_address=to),
        limit=limit,
        cursor=cursor,
    )
    return schemas.OutboxList(
        data=[
            schemas.OutboxEntry(
                id=m.id,
                to_address=m.to_address,
                from_address=m.from_address,
                subject=m.subject,
                source=m.source,
                marketing=m.marketing,
                sent_at=m.sent_at,
                created_at=m.created_at,
            )
            for m in rows
        ],
        next_cursor=next_cursor,
    )


def _stored(session: DbSession, org_id: uuid.UUID, message_id: uuid.UUID) -> tuple[Message, bytes]:
    message = ledger.get_message(session, org_id, message_id)
    raw = read_stored(get_settings().data_dir, org_id, message.id)
    if raw is None:
        raise NotFound("the outbox does not hold this message")
    return message, raw


@router.get("/api/outbox/{message_id}", operation_id="get_outbox_message")
def get_outbox_message(
    message_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.OutboxMessage:
    """A stored message read like a mail client would: headers, HTML and text parts."""
    message, raw = _stored(session, auth.org_id, message_id)
    parsed = mime.parse(raw)
    return schemas.OutboxMessage(
        id=message.id,
        message=schemas.Message.model_validate(message),
        headers=[schemas.MailHeader(name=n, value=v) for n, v in parsed.headers],
        from_=parsed.from_,
        to=parsed.to,
        subject=parsed.subject,
        date=parsed.date,
        html=parsed.html,
        text=parsed.text,
        size=len(raw),
    )


@router.get(
    "/api/outbox/{message_id}/raw",
    operation_id="get_outbox_message_raw",
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
def get_outbox_message_raw(
    message_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> Response:
    """The stored MIME message, byte for byte (open it in a mail client)."""
    message, raw = _stored(session, auth.org_id, message_id)
    return Response(
        content=raw,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{message.id}.eml"'},
    )


# --- Settings -----------------------------------------------------------------------------------


@router.get("/api/email/settings", operation_id="get_email_settings")
def get_email_settings(auth: ManagementAuth, session: DbSession) -> schemas.EmailSettings:
    """The sending setup. Secrets are never returned: `password_set` and `dkim_key_set` say
    whether one is stored."""
    auth.require_role("admin")
    return configuration.to_schema(configuration.get_row(session, auth.org_id))


@router.put(
    "/api/email/settings",
    operation_id="update_email_settings",
    responses={422: {"model": ErrorResponse}},
)
def update_email_settings(
    body: schemas.EmailSettingsUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.EmailSettings:
    """Replace the sending setup (admins). A stored SMTP password or DKIM key is kept when the
    body leaves it out."""
    auth.require_role("admin")
    return configuration.to_schema(configuration.update(session, auth.org_id, body))
