"""`/webhooks/<provider>/<provider id>`: where SES (through SNS), SendGrid and Postmark post
what happened to the messages they took. Each request is authenticated the provider's way
before its body is believed; a refused one changes nothing and answers 401 (nothing to check
with) or 403 (checked, and wrong). Rate-limited per client address like every public path."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from herald.email.feedback import apply, postmark, sendgrid, sns
from herald.email.feedback.sns import Refused
from herald.email.providers import decrypt_entry
from herald.errors import NotAuthenticated, NotFound, PermissionDenied
from herald.models import EmailProviderEntry
from herald.tenancy.deps import DbSession

logger = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _entry(session: DbSession, provider_id: uuid.UUID, kind: str) -> EmailProviderEntry:
    row = session.get(EmailProviderEntry, provider_id)
    if row is None or row.kind != kind:
        raise NotFound("no such provider")
    return row


def _refuse(exc: Refused, *, missing: bool) -> Exception:
    logger.warning("webhook refused: %s", exc)
    return NotAuthenticated(str(exc)) if missing else PermissionDenied(str(exc))


@router.post(
    "/webhooks/ses/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    include_in_schema=False,
)
def ses_webhook(provider_id: uuid.UUID, body: RawBody, session: DbSession) -> Response:
    row = _entry(session, provider_id, "ses")
    try:
        message: Any = json.loads(body)
    except ValueError:
        raise PermissionDenied("the body is not an SNS message") from None
    if not isinstance(message, dict):
        raise PermissionDenied("the body is not an SNS message")
    topics = decrypt_entry(row).get("sns_topic_arns") or []
    try:
        sns.verify(message, [str(t) for t in topics])
        if message["Type"] == "SubscriptionConfirmation":
            sns.confirm_subscription(message)
            return Response(status_code=status.HTTP_204_NO_CONTENT)
    except Refused as exc:
        raise _refuse(exc, missing="Signature" not in message) from None
    if message["Type"] == "Notification":
        apply.apply(session, row.org_id, sns.parse_notification(message))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/sendgrid/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    include_in_schema=False,
)
def sendgrid_webhook(
    provider_id: uuid.UUID, request: Request, body: RawBody, session: DbSession
) -> Response:
    row = _entry(session, provider_id, "sendgrid")
    signature = request.headers.get(sendgrid.SIGNATURE_HEADER)
    timestamp = request.headers.get(sendgrid.TIMESTAMP_HEADER)
    try:
        sendgrid.verify(decrypt_entry(row).get("webhook_public_key"), signature, timestamp, body)
        items = sendgrid.parse(body)
    except Refused as exc:
        raise _refuse(exc, missing=not signature) from None
    apply.apply(session, row.org_id, items)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/postmark/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    include_in_schema=False,
)
def postmark_webhook(
    provider_id: uuid.UUID, request: Request, body: RawBody, session: DbSession
) -> Response:
    row = _entry(session, provider_id, "postmark")
    config = decrypt_entry(row)
    authorization = request.headers.get("Authorization")
    try:
        postmark.verify(
            config.get("webhook_username"), config.get("webhook_password"), authorization
        )
        items = postmark.parse(body)
    except Refused as exc:
        raise _refuse(exc, missing=not authorization) from None
    apply.apply(session, row.org_id, items)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
