"""HTTP handlers: the public tracking and unsubscribe links (the signed token is the only
authentication), and the suppression list's management API (secret key or dashboard)."""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from herald.db import get_database, utcnow
from herald.errors import ErrorResponse, HeraldError, validation_fields
from herald.messaging import schemas, suppression, tracking
from herald.messaging.ledger import record_event
from herald.models import Message, Organization
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth, Principal
from herald.tenancy.deps import DbSession

# --- public links --------------------------------------------------------------------------------

router = APIRouter(include_in_schema=False, route_class=JsonBodyRoute)

# The smallest transparent GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
# Pages hold a token in their URL: no framing, no referrer, no caching, no indexing.
PAGE_HEADERS = {
    **NO_STORE,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
MAX_AGENT = 512


class InvalidLink(HeraldError):
    status_code = 400
    code = "invalid_link"


def _client(request: Request) -> tuple[str | None, str | None]:
    agent = request.headers.get("user-agent")
    return (agent[:MAX_AGENT] if agent else None), (request.client.host if request.client else None)


def _visit_data(agent: str | None) -> dict[str, str | None]:
    return {"user_agent": agent, "proxy": tracking.proxy_of(agent)}


@router.get("/t/o/{token}", name="tracking_open")
def open_pixel(token: str, request: Request, session: DbSession) -> Response:
    """The open pixel. A token Herald did not make still gets the image, and records nothing."""
    try:
        message_id = tracking.read_message_token(tracking.OPEN_PURPOSE, token)
    except tracking.InvalidToken:
        message_id = None
    if message_id is not None and (message := session.get(Message, message_id)) is not None:
        agent, ip = _client(request)
        record_event(
            session,
            message,
            "opened",
            data=_visit_data(agent),
            machine=tracking.is_machine_open(agent, ip),
        )
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/t/c/{token}", name="tracking_click")
def click(token: str, request: Request, session: DbSession) -> Response:
    """A click: recorded, then redirected to the URL the message linked to (and only there)."""
    try:
        message_id, url = tracking.read_click_token(token)
    except tracking.InvalidToken as exc:
        raise InvalidLink("this link is not valid: it was altered or cut short") from exc
    message = session.get(Message, message_id)
    if message is not None:
        agent, ip = _client(request)
        record_event(
            session,
            message,
            "clicked",
            data={"url": url, **_visit_data(agent)},
            machine=tracking.is_machine_open(agent, ip),
        )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers=NO_STORE)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<style>body{{font-family:system-ui,-apple-system,sans-serif;max-width:34rem;margin:4rem auto;
padding:0 1rem;color:#1a1b1e;line-height:1.5}}h1{{font-size:1.4rem}}
button{{font:inherit;padding:.55rem 1.1rem;border-radius:6px;border:0;background:#1c7ed6;
color:#fff;cursor:pointer}}.quiet{{color:#666;font-size:.9rem}}.notice{{background:#e7f5ff;
padding:.6rem .9rem;border-radius:6px}}</style>
</head><body><h1>{title}</h1>
{body}
</body></html>"""

REASON_TEXT = {
    "hard_bounce": "messages to this address could not be delivered",
    "complaint": "a message to this address was reported as spam",
    "manual": "{org} removed this address from its mailing list",
    "import": "{org} removed this address from its mailing list",
    "stop": "{org} removed this address from its mailing list",
}


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    """`title` is plain text; `body` is HTML whose values the caller escaped."""
    content = PAGE.format(title=html.escape(title), body=body)
    return HTMLResponse(content, status_code=status_code, headers=PAGE_HEADERS)


def _invalid_page() -> HTMLResponse:
    return _page(
        "This link does not work",
        "<p>The link may have been changed, or cut short when it was copied. Open it again from "
        "the email you received, or copy the whole link.</p>",
        status.HTTP_400_BAD_REQUEST,
    )


def _gone_page() -> HTMLResponse:
    return _page(
        "This link has expired",
        "<p>The message this link came from no longer exists. Use the link in a more recent "
        "email.</p>",
        status.HTTP_404_NOT_FOUND,
    )


def _message(session: Session, purpose: str, token: str) -> Message | HTMLResponse:
    try:
        message_id = tracking.read_message_token(purpose, token)
    except tracking.InvalidToken:
        return _invalid_page()
    message = session.get(Message, message_id)
    return message if message is not None else _gone_page()


def _org_name(session: Session, message: Message) -> str:
    organization = session.get(Organization, message.org_id)
    return organization.name if organization is not None else "the sender"


def _button(label: str, name: str = "", value: str = "") -> str:
    field = (
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        if name
        else ""
    )
    return f'<form method="post">{field}<button type="submit">{html.escape(label)}</button></form>'


def _unsubscribed_page(
    session: Session, message: Message, org: str, *, notice: str | None = None
) -> HTMLResponse:
    preferences = html.escape(tracking.preferences_url(message.id))
    lead = f'<p class="notice">{html.escape(notice)}</p>' if notice else ""
    return _page(
        "You are unsubscribed",
        f"{lead}<p><strong>{html.escape(message.to_address)}</strong> will no longer receive "
        f"marketing email from {html.escape(org)}.</p>"
        f'<p class="quiet">Changed your mind? <a href="{preferences}">Manage your '
        "subscription</a>.</p>",
    )


@router.get("/u/{token}", name="unsubscribe_page")
def unsubscribe_page(token: str, session: DbSession) -> HTMLResponse:
    """Asks; changes nothing (link scanners and prefetchers follow GET links)."""
    message = _message(session, tracking.UNSUBSCRIBE_PURPOSE, token)
    if isinstance(message, HTMLResponse):
        return message
    org = _org_name(session, message)
    if suppression.message_suppression(session, message) is not None:
        return _unsubscribed_page(session, message, org)
    return _page(
        f"Unsubscribe from {org}",
        f"<p>Stop marketing email from <strong>{html.escape(org)}</strong> to "
        f"<strong>{html.escape(message.to_address)}</strong>?</p>"
        + _button("Unsubscribe", "confirm", "page")
        + f'<p class="quiet">You will still get messages about orders and your account. '
        f'<a href="{html.escape(tracking.preferences_url(message.id))}">Manage your '
        "subscription</a>.</p>",
    )


async def _form(request: Request) -> dict[str, str]:
    try:
        form = await request.form()
    except Exception:
        return {}
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormFields = Annotated[dict[str, str], Depends(_form)]


@router.post("/u/{token}", name="unsubscribe")
def unsubscribe(token: str, form: FormFields, session: DbSession) -> HTMLResponse:
    """RFC 8058 one-click (`List-Unsubscribe=One-Click`) and the page's button. Needs no
    cookie: the token is the authority. Repeating it changes nothing more."""
    source = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "page"
    message = _message(session, tracking.UNSUBSCRIBE_PURPOSE, token)
    if isinstance(message, HTMLResponse):
        return message
    suppression.unsubscribe_message(session, message, source=source)
    return _unsubscribed_page(session, message, _org_name(session, message))


def _preferences(session: Session, message: Message, *, notice: str | None = None) -> HTMLResponse:
    org = _org_name(session, message)
    address = html.escape(message.to_address)
    lead = f'<p class="notice">{html.escape(notice)}</p>' if notice else ""
    entry = suppression.message_suppression(session, message)
    if entry is None:
        body = (
            f"<p><strong>{address}</strong> is subscribed to marketing email from "
            f"{html.escape(org)}.</p>" + _button("Unsubscribe", "action", "unsubscribe")
        )
    elif entry.reason in suppression.SELF_SERVICE_REASONS:
        when = entry.created_at.strftime("%B %-d, %Y")
        body = (
            f"<p><strong>{address}</strong> unsubscribed from marketing email from "
            f"{html.escape(org)} on {html.escape(when)}.</p>"
            + _button("Resubscribe", "action", "resubscribe")
        )
    else:
        why = REASON_TEXT.get(entry.reason, "{org} removed this address from its mailing list")
        body = (
            f"<p>{html.escape(org)} does not send marketing email to <strong>{address}</strong>"
            f": {html.escape(why.format(org=org))}.</p>"
            f"<p>To receive it again, contact {html.escape(org)}.</p>"
        )
    return _page("Your email preferences", lead + body)


@router.get("/p/{token}", name="preferences_page")
def preferences_page(token: str, session: DbSession) -> HTMLResponse:
    message = _message(session, tracking.PREFERENCES_PURPOSE, token)
    if isinstance(message, HTMLResponse):
        return message
    return _preferences(session, message)


@router.post("/p/{token}", name="update_preferences")
def update_preferences(token: str, form: FormFields, session: DbSession) -> HTMLResponse:
    """`action=resubscribe` removes the recipient's own unsubscribe (never a hard bounce or a
    complaint); `action=unsubscribe` unsubscribes."""
    message = _message(session, tracking.PREFERENCES_PURPOSE, token)
    if isinstance(message, HTMLResponse):
        return message
    action = form.get("action")
    notice = None
    if action == "resubscribe":
        if suppression.resubscribe_message(session, message, source="preferences"):
            notice = "You are subscribed again."
    elif action == "unsubscribe":
        suppression.unsubscribe_message(session, message, source="preferences")
        notice = "You are unsubscribed."
    else:
        return _page(
            "Nothing to change",
            "<p>Choose an option on the preference page.</p>",
            status.HTTP_400_BAD_REQUEST,
        )
    return _preferences(session, message, notice=notice)


# --- the suppression list (management API) -------------------------------------------------------

suppressions_router = APIRouter(
    prefix="/api/suppressions", tags=["suppressions"], route_class=JsonBodyRoute
)
_item_adapter = TypeAdapter(schemas.SuppressionCreate)


def _source(auth: Principal, given: str | None) -> str:
    if given:
        return given
    return "dashboard" if auth.kind == "user" else "api"


def _filter(
    session: Session,
    org_id: uuid.UUID,
    channel: schemas.ChannelName | None,
    reason: schemas.ReasonName | None,
    address: str | None,
    q: str | None,
) -> suppression.SuppressionFilter:
    if address is not None:
        address = suppression.normalize_address(
            session, org_id, channel or ("email" if "@" in address else "sms"), address
        )
    return suppression.SuppressionFilter(channel=channel, reason=reason, address=address, search=q)


Search = Annotated[
    str | None, Query(max_length=320, description="Addresses that start with this text")
]


@suppressions_router.get("", operation_id="list_suppressions")
def list_suppressions(
    auth: ManagementAuth,
    session: DbSession,
    channel: schemas.ChannelName | None = None,
    reason: schemas.ReasonName | None = None,
    address: Annotated[str | None, Query(max_length=320, description="Exact address")] = None,
    q: Search = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.SuppressionList:
    """Newest first. `address` is normalized before it is compared."""
    where = _filter(session, auth.org_id, channel, reason, address, q)
    rows, next_cursor = suppression.list_suppressions(
        session, auth.org_id, where, limit=limit, cursor=cursor
    )
    return schemas.SuppressionList(
        data=[schemas.Suppression.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@suppressions_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_suppression",
    responses={200: {"model": schemas.Suppression, "description": "Already on the list"}},
)
def create_suppression(
    body: schemas.SuppressionCreate, auth: ManagementAuth, session: DbSession, response: Response
) -> schemas.Suppression:
    """Add an address (201), or answer the existing entry (200). A hard bounce or complaint
    replaces a weaker reason already recorded."""
    row, created = suppression.suppress(
        session,
        auth.org_id,
        body.channel,
        body.address,
        reason=body.reason,
        source=_source(auth, body.source),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return schemas.Suppression.model_validate(row)


def _item_field(index: int, field: str) -> str:
    # An item that is not an object at all has no field of its own ("body").
    return f"suppressions[{index}]" if field == "body" else f"suppressions[{index}].{field}"


@suppressions_router.post(
    "/bulk", operation_id="bulk_add_suppressions", responses={422: {"model": ErrorResponse}}
)
def bulk_add_suppressions(
    body: schemas.SuppressionBulk, auth: ManagementAuth, session: DbSession
) -> schemas.SuppressionBulkResult:
    """Add up to 10,000 entries. Good items are stored; each bad one is reported by its index
    and does not affect the rest."""
    items: list[tuple[int, suppression.BulkItem]] = []
    errors: list[schemas.BulkItemError] = []
    for index, raw in enumerate(body.suppressions):
        try:
            item = _item_adapter.validate_python(raw)
        except ValidationError as exc:
            errors.extend(
                schemas.BulkItemError(
                    index=index, field=_item_field(index, error.field), reason=error.reason
                )
                for error in validation_fields(exc.errors())
            )
            continue
        items.append(
            (index, suppression.BulkItem(item.channel, item.address, item.reason, item.source))
        )
    outcome = suppression.bulk_add(session, auth.org_id, items, source=_source(auth, None))
    errors.extend(
        schemas.BulkItemError(
            index=index, field=_item_field(index, error.field), reason=error.reason
        )
        for index, error in outcome.errors
    )
    errors.sort(key=lambda error: error.index)
    return schemas.SuppressionBulkResult(
        created=outcome.created, existing=outcome.existing, errors=errors
    )


@suppressions_router.get(
    "/export",
    operation_id="export_suppressions_csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, one entry a row"}},
)
def export_suppressions_csv(
    auth: ManagementAuth,
    session: DbSession,
    channel: schemas.ChannelName | None = None,
    reason: schemas.ReasonName | None = None,
    q: Search = None,
) -> StreamingResponse:
    """Every matching entry as CSV, streamed. Cells that a spreadsheet would run as a formula
    are prefixed with an apostrophe."""
    org_id = auth.org_id
    where = _filter(session, org_id, channel, reason, None, q)

    def rows() -> Iterator[bytes]:
        # The request's session is closed once the handler returns; the stream reads on its own.
        with get_database().transaction() as stream_session:
            yield from suppression.csv_lines(
                suppression.iterate_suppressions(stream_session, org_id, where)
            )

    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="suppressions-{stamp}.csv"'},
    )


@suppressions_router.get("/{suppression_id}", operation_id="get_suppression")
def get_suppression(
    suppression_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Suppression:
    row = suppression.get_suppression(session, auth.org_id, suppression_id)
    return schemas.Suppression.model_validate(row)


@suppressions_router.delete(
    "/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_suppression",
)
def delete_suppression(
    suppression_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> Response:
    """Allow sending to the address again (admins and secret keys only): for an unsubscribe,
    only when the person asked for it."""
    row = suppression.get_suppression(session, auth.org_id, suppression_id)
    auth.require_role("admin")
    suppression.delete(session, row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
