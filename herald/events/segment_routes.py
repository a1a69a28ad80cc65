"""Segment-compatible ingestion endpoints under /v1/ (Segment's HTTP Tracking API).

Segment's libraries send the write key as the HTTP Basic user name; here that is a Herald public
(or secret) key. A bearer token and `?api_key=` work as for every ingestion endpoint, and a
`writeKey` in the JSON body is the fallback when neither is sent (analytics.js sends it so).
Bodies may be gzip-compressed (`Content-Encoding: gzip`) and are read as JSON whatever their
Content-Type, because analytics.js sends `text/plain` to spare the browser a CORS preflight
(herald.cors answers browsers on these paths).
The translation lives in herald.events.segment; these handlers only read and answer HTTP.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from herald.bodylimit import MB, limit_for
from herald.db import utcnow
from herald.errors import FieldError, HeraldError, InvalidInput, NotAuthenticated
from herald.events import schemas, segment
from herald.routing import JsonBodyRoute, body_read_by_handler, json_or_invalid
from herald.tenancy.auth import Principal, admitted, key_principal, public_principal
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["segment"], route_class=JsonBodyRoute)


class PayloadTooLarge(HeraldError):
    status_code = 413
    code = "too_large"


class UnsupportedEncoding(HeraldError):
    status_code = 415
    code = "unsupported_media_type"


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body (every member), refusing to grow it past `limit` bytes."""
    out = bytearray()
    rest = data
    while rest:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise InvalidInput.for_field("body", "not valid gzip data") from None
        if len(out) > limit or decompressor.unconsumed_tail:
            reason = f"the decompressed body is larger than {limit // MB} MB"
            raise PayloadTooLarge(reason, [FieldError("body", reason)])
        if not decompressor.eof:
            raise InvalidInput.for_field("body", "the gzip data ends early")
        rest = decompressor.unused_data
    return bytes(out)


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limit_for(request.url.path))
    elif encoding not in ("", "identity"):
        reason = "send the body as it is or gzip-compressed"
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding} is not supported", [FieldError("body", reason)]
        )
    return json_or_invalid(raw)


@dataclass
class Payload:
    """The request's JSON, or why it could not be read. The error is raised after the header's
    credentials were checked, so that a caller without a valid key learns nothing else."""

    value: Any = None
    error: HeraldError | None = None

    def json(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


async def segment_payload(request: Request) -> Payload:
    """The body as JSON whatever its Content-Type, decompressed when it is gzip."""
    try:
        return Payload(await _read_json(request))
    except HeraldError as exc:
        return Payload(error=exc)


SegmentPayload = Annotated[Payload, Depends(segment_payload)]


def segment_principal(request: Request, session: DbSession, payload: SegmentPayload) -> Principal:
    """The ingestion credentials, or else the body's `writeKey` (through the same key lookup)."""
    if request.headers.get("authorization") or request.query_params.get("api_key"):
        return public_principal(request, session)
    body = payload.json()
    write_key = body.get("writeKey") if isinstance(body, dict) else None
    if isinstance(write_key, str) and write_key.strip():
        principal = key_principal(session, write_key.strip(), cached=True)
        return admitted(request, session, principal, "ingestion")
    raise NotAuthenticated(
        "send your public key as the HTTP Basic user name (Segment's write key), "
        "as 'Authorization: Bearer pk_…' or as writeKey in the body",
        headers={"WWW-Authenticate": "Basic"},
    )


SegmentAuth = Annotated[Principal, Depends(segment_principal)]


# --- Answers ------------------------------------------------------------------------------------


class SegmentEventResult(BaseModel):
    success: bool = Field(default=True, description="Always true: errors answer with 4xx.")
    event_id: uuid.UUID
    profile_id: uuid.UUID
    duplicate: bool = Field(description="True when this messageId was stored before.")


class SegmentProfileResult(BaseModel):
    success: bool = Field(default=True, description="Always true: errors answer with 4xx.")
    profile_id: uuid.UUID
    created: bool
    merged_profile_ids: list[uuid.UUID] = Field(
        description="Profiles merged into this one by this call."
    )


class SegmentBatchItemResult(BaseModel):
    index: int
    type: str
    profile_id: uuid.UUID
    event_id: uuid.UUID | None = Field(
        description="The stored event; null for identify, group, alias."
    )
    duplicate: bool = Field(description="True when this messageId was stored before.")


class SegmentBatchResult(BaseModel):
    success: bool = Field(description="True when every message was stored.")
    accepted: int = Field(description="Messages applied by this call (events newly stored).")
    duplicates: int = Field(description="Events already stored by an earlier call.")
    results: list[SegmentBatchItemResult]
    errors: list[schemas.BatchItemError]


def _event_result(applied: segment.Applied) -> SegmentEventResult:
    assert applied.event_id is not None
    return SegmentEventResult(
        event_id=applied.event_id, profile_id=applied.profile_id, duplicate=applied.duplicate
    )


def _profile_result(applied: segment.Applied) -> SegmentProfileResult:
    return SegmentProfileResult(
        profile_id=applied.profile_id,
        created=applied.created,
        merged_profile_ids=applied.merged_profile_ids,
    )


def batch_result(outcomes: list[segment.ItemOutcome]) -> SegmentBatchResult:
    results: list[SegmentBatchItemResult] = []
    errors: list[schemas.BatchItemError] = []
    for outcome in outcomes:
        prefix = f"batch[{outcome.index}]"
        for error in outcome.errors:
            errors.append(
                schemas.BatchItemError(
                    index=outcome.index,
                    field=f"{prefix}.{error.field}" if error.field else prefix,
                    reason=error.reason,
                )
            )
        if outcome.applied is not None:
            applied = outcome.applied
            results.append(
                SegmentBatchItemResult(
                    index=outcome.index,
                    type=applied.type,
                    profile_id=applied.profile_id,
                    event_id=applied.event_id,
                    duplicate=applied.duplicate,
                )
            )
    return SegmentBatchResult(
        success=not errors,
        accepted=sum(1 for r in results if not r.duplicate),
        duplicates=sum(1 for r in results if r.duplicate),
        results=results,
        errors=errors,
    )


# --- Endpoints ----------------------------------------------------------------------------------


def _message_body(description: str) -> dict[str, Any]:
    """OpenAPI for a body read by `segment_payload`."""
    return body_read_by_handler({"type": "object"}, description)


def _apply(session: DbSession, auth: Principal, payload: Payload, type_: str) -> segment.Applied:
    return segment.apply_message(
        session, auth.org_id, payload.json(), type_=type_, received_at=utcnow()
    )


@router.post(
    "/v1/identify",
    operation_id="segment_identify",
    openapi_extra=_message_body("A Segment identify message: userId and/or anonymousId, traits."),
)
def segment_identify(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentProfileResult:
    """Segment's identify: create or update the profile; traits fill its fields."""
    return _profile_result(_apply(session, auth, payload, "identify"))


@router.post(
    "/v1/track",
    operation_id="segment_track",
    openapi_extra=_message_body("A Segment track message: event, properties, messageId, ..."),
)
def segment_track(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentEventResult:
    """Segment's track: one event, stored once per messageId."""
    return _event_result(_apply(session, auth, payload, "track"))


@router.post(
    "/v1/page",
    operation_id="segment_page",
    openapi_extra=_message_body("A Segment page message: name, category, properties, ..."),
)
def segment_page(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentEventResult:
    """Segment's page: a "Viewed Page" event."""
    return _event_result(_apply(session, auth, payload, "page"))


@router.post(
    "/v1/screen",
    operation_id="segment_screen",
    openapi_extra=_message_body("A Segment screen message: name, category, properties, ..."),
)
def segment_screen(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentEventResult:
    """Segment's screen: a "Viewed Screen" event."""
    return _event_result(_apply(session, auth, payload, "screen"))


@router.post(
    "/v1/group",
    operation_id="segment_group",
    openapi_extra=_message_body("A Segment group message: groupId, traits, userId/anonymousId."),
)
def segment_group(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentProfileResult:
    """Segment's group: the group and its traits go into the profile's `groups` property."""
    return _profile_result(_apply(session, auth, payload, "group"))


@router.post(
    "/v1/alias",
    operation_id="segment_alias",
    openapi_extra=_message_body("A Segment alias message: previousId and userId."),
)
def segment_alias(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentProfileResult:
    """Segment's alias: previousId and userId are one person; their profiles merge."""
    return _profile_result(_apply(session, auth, payload, "alias"))


@router.post(
    "/v1/batch",
    operation_id="segment_batch",
    openapi_extra=_message_body('{"batch": [messages, each with its "type"], "sentAt", ...}'),
)
def segment_batch(
    payload: SegmentPayload, auth: SegmentAuth, session: DbSession
) -> SegmentBatchResult:
    """Up to 1,000 messages of any type (5 MB), applied in order. Good messages are stored; each
    bad one is reported by its index. Retrying a batch stores each event once (by messageId)."""
    envelope = segment.parse_envelope(payload.json())
    outcomes = segment.apply_batch(session, auth.org_id, envelope, received_at=utcnow())
    return batch_result(outcomes)


# analytics.js posts to one-letter paths (/v1/t, /v1/p, ...); they answer as the full ones.
for _handler in (
    segment_identify,
    segment_track,
    segment_page,
    segment_screen,
    segment_group,
    segment_alias,
    segment_batch,
):
    _call = _handler.__name__.removeprefix("segment_")
    router.add_api_route(f"/v1/{_call[0]}", _handler, methods=["POST"], include_in_schema=False)
