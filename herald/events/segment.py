"""Segment compatibility: Segment's Tracking API messages turned into Herald's own calls. No HTTP.

The translation is pure: `parse_message` checks one raw message, and `to_event`, `to_identify`,
`group_properties` and `alias_ids` say what Herald should do with it. `apply_message` and
`apply_batch` then call the profile and event services with a session. A batch is applied in the
order it was sent, so an identify early in a batch is in effect for a track later in it; runs of
consecutive track, page and screen messages are stored together through `ingest`, and every
profile message runs in its own savepoint, so one bad message changes nothing and the rest of the
batch is stored.

Mapping (docs/segment.md has the user's version):
- `userId` is the profile's `external_id`, `anonymousId` an anonymous id; identify, track, page,
  screen and group resolve the profile from both, with the identity rules of
  herald.profiles.identity (an anonymous profile merges into the known one).
- identify traits `email`, `phone`, `firstName`/`first_name`, `lastName`/`last_name` and
  `address` {street, city, state, postalCode, country} fill the built-in fields, `context.timezone`
  the time zone; every other trait is a custom property. Null or empty built-in traits are
  ignored: a Segment message never clears an identifier or a name.
- track is an event named after `event`; page is "Viewed Page" and screen "Viewed Screen", with
  `name` and `category` added to the properties (and, for page, url/path/title/referrer/search
  from `context.page` where the properties lack them). `properties.revenue`, else
  `properties.value`, is the event's value; `messageId` is its unique id, so a retried message is
  stored once.
- The event's time is `timestamp` as sent; else `originalTimestamp`, moved by the sender's clock
  skew when `sentAt` is known (Segment's receivedAt - (sentAt - originalTimestamp)); else now.
  Times without a zone are read as UTC, as Segment's are.
- group adds the group to the profile's custom property `groups`, keyed by `groupId`, whose value
  holds the group's traits (merged with those sent before): {"groups": {"acme": {"plan": "pro"}}}.
- alias is identity.alias(previousId, userId); `anonymousId` stands in for a missing previousId.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from sqlalchemy.orm import Session

from herald.errors import FieldError, HeraldError, InvalidInput, validation_fields
from herald.events import batch as events_batch
from herald.events import service as events
from herald.events.schemas import MAX_BATCH_EVENTS, check_event_time
from herald.profiles import identity
from herald.profiles import schemas as profile_schemas
from herald.profiles import service as profiles
from herald.profiles.limits import check_properties
from herald.validation import check_timezone, unstorable_values

SOURCE = "segment"
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
EVENT_TYPES = frozenset({"track", "page", "screen"})
# Where each call is served: /v1/<call>, and analytics.js's one-letter /v1/<c> besides.
CALLS = (*MESSAGE_TYPES, "batch")
PATHS = frozenset(path for call in CALLS for path in (f"/v1/{call}", f"/v1/{call[0]}"))
PAGE_EVENT = "Viewed Page"
SCREEN_EVENT = "Viewed Screen"
# Properties a page event takes from context.page when its own properties lack them.
PAGE_CONTEXT_FIELDS = ("path", "referrer", "search", "title", "url")
# Segment's address trait -> Herald's location fields.
ADDRESS_FIELDS = {
    "street": "address1",
    "city": "city",
    "state": "region",
    "postalCode": "zip",
    "country": "country",
}
# The event's value: the first of these properties that holds a number.
VALUE_PROPERTIES = ("revenue", "value")
MAX_VALUE = 1e12
# An ingestion error about the profile, in Segment's words.
_PROFILE_FIELDS = {
    "profile": "userId",
    "profile.id": "userId",
    "profile.external_id": "userId",
    "profile.anonymous_id": "anonymousId",
}


# --- Parsing ------------------------------------------------------------------------------------


def _coerce_id(value: Any) -> Any:
    """Segment ids may be numbers; an empty id is no id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _object_or_empty(value: Any) -> Any:
    return {} if value is None else value


def _assume_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


SegmentId = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None,
    BeforeValidator(_coerce_id),
]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_object_or_empty)]
Instant = Annotated[datetime | None, AfterValidator(_assume_utc)]


class Message(BaseModel):
    """One Segment message: the fields Herald reads. Others (integrations, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str
    user_id: SegmentId = Field(default=None, alias="userId")
    anonymous_id: SegmentId = Field(default=None, alias="anonymousId")
    message_id: SegmentId = Field(default=None, alias="messageId")
    previous_id: SegmentId = Field(default=None, alias="previousId")
    group_id: SegmentId = Field(default=None, alias="groupId")
    event: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    category: Annotated[str, StringConstraints(max_length=255)] | None = None
    traits: JsonObject = Field(default_factory=dict)
    properties: JsonObject = Field(default_factory=dict)
    context: JsonObject = Field(default_factory=dict)
    timestamp: Instant = None
    original_timestamp: Instant = Field(default=None, alias="originalTimestamp")
    sent_at: Instant = Field(default=None, alias="sentAt")


class Envelope(BaseModel):
    """A batch: `{"batch": [...], "sentAt", "context", "writeKey", ...}`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    batch: list[Any] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)
    sent_at: Instant = Field(default=None, alias="sentAt")
    context: JsonObject = Field(default_factory=dict)


def _invalid(fields: Sequence[FieldError]) -> InvalidInput:
    message = "; ".join(f"{f.field or 'message'}: {f.reason}" for f in fields[:5])
    return InvalidInput(message or "invalid message", fields)


def parse_envelope(body: Any) -> Envelope:
    """A batch body. A bare JSON array of messages is a batch too, and so is one message with its
    `type` (what webhook senders post), so that one URL takes everything."""
    if isinstance(body, list) or (
        isinstance(body, dict) and "batch" not in body and "type" in body
    ):
        body = {"batch": body if isinstance(body, list) else [body]}
    if not isinstance(body, dict):
        raise InvalidInput.for_field("body", 'must be a JSON object like {"batch": [...]}')
    try:
        return Envelope.model_validate(body)
    except ValidationError as exc:
        raise _invalid(validation_fields(exc.errors())) from None


def parse_message(
    raw: Any, *, type_: str | None = None, context: dict[str, Any] | None = None
) -> Message:
    """Check one message. `type_` (the endpoint's) wins over the message's own `type`; `context`
    (a batch's) is the default for the message's context. Errors name Segment's fields, relative
    to the message; the empty field name is the message itself."""
    if not isinstance(raw, dict):
        raise InvalidInput("a message must be a JSON object", [FieldError("", "must be an object")])
    # Anywhere in the message, even in fields Herald ignores: one rule, the same as for the body
    # of every other route (herald.validation.unstorable_values).
    problems = unstorable_values(raw)
    if problems:
        raise _invalid(problems)
    data = dict(raw)
    if type_ is not None:
        data["type"] = type_
    kind = data.get("type")
    if not isinstance(kind, str) or kind.strip().lower() not in MESSAGE_TYPES:
        raise _invalid([FieldError("type", f"must be one of {', '.join(MESSAGE_TYPES)}")])
    data["type"] = kind.strip().lower()
    if context and isinstance(data.get("context") or {}, dict):
        data["context"] = {**context, **(data.get("context") or {})}
    try:
        message = Message.model_validate(data)
    except ValidationError as exc:
        raise _invalid(validation_fields(exc.errors())) from None
    problems = _missing_fields(message)
    if problems:
        raise _invalid(problems)
    return message


def _missing_fields(message: Message) -> list[FieldError]:
    problems = []
    if message.type == "alias":
        if message.user_id is None:
            problems.append(FieldError("userId", "is required for an alias"))
        if message.previous_id is None and message.anonymous_id is None:
            problems.append(FieldError("previousId", "is required for an alias"))
        return problems
    if message.user_id is None and message.anonymous_id is None:
        problems.append(FieldError("userId", "give userId or anonymousId"))
    if message.type == "track" and not message.event:
        problems.append(FieldError("event", "is required for a track call"))
    if message.type == "group" and message.group_id is None:
        problems.append(FieldError("groupId", "is required for a group call"))
    return problems


# --- Translation --------------------------------------------------------------------------------


def profile_ref(message: Message) -> identity.ProfileRef:
    return identity.ProfileRef(external_id=message.user_id, anonymous_id=message.anonymous_id)


def event_time(
    message: Message, received_at: datetime, sent_at: datetime | None = None
) -> datetime | None:
    """When it happened (see the module's docstring); None means now. Raises InvalidInput."""
    if message.timestamp is not None:
        name, when = "timestamp", message.timestamp
    elif message.original_timestamp is not None:
        name, when = "originalTimestamp", message.original_timestamp
        sent = message.sent_at or sent_at
        if sent is not None:
            when = received_at - (sent - when)
    else:
        return None
    try:
        return check_event_time(when)
    except ValueError as exc:
        raise InvalidInput.for_field(name, str(exc)) from None


def event_value(properties: dict[str, Any]) -> float | None:
    """The first of `revenue` and `value` that holds a number (numeric strings count)."""
    for key in VALUE_PROPERTIES:
        raw = properties.get(key)
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            continue
        try:
            number = float(raw)
        except (ValueError, OverflowError):
            continue
        if math.isfinite(number) and abs(number) < MAX_VALUE:
            return number
    return None


def event_name_and_properties(message: Message) -> tuple[str, dict[str, Any]]:
    if message.type == "track":
        assert message.event is not None  # checked by parse_message
        return message.event, dict(message.properties)
    properties: dict[str, Any] = {}
    if message.type == "page":
        page = message.context.get("page")
        if isinstance(page, dict):
            properties.update({k: page[k] for k in PAGE_CONTEXT_FIELDS if page.get(k) is not None})
    properties.update(message.properties)
    if message.name is not None:
        properties["name"] = message.name
    if message.category is not None:
        properties["category"] = message.category
    return (PAGE_EVENT if message.type == "page" else SCREEN_EVENT), properties


def to_event(
    message: Message, received_at: datetime, sent_at: datetime | None = None
) -> events_batch.EventInput:
    """A track, page or screen message as an event. Raises InvalidInput."""
    name, properties = event_name_and_properties(message)
    try:
        check_properties(properties)
    except ValueError as exc:
        raise InvalidInput.for_field("properties", str(exc)) from None
    return events_batch.EventInput(
        name=name,
        profile=profile_ref(message),
        properties=properties,
        value=event_value(properties),
        time=event_time(message, received_at, sent_at),
        unique_id=message.message_id,
    )


def _text(value: Any) -> Any:
    """Numbers where Herald keeps text (a postal code, a phone number) become text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _blank(value: Any) -> bool:
    """Null or empty: a built-in field is left as it is, never cleared, by a Segment trait."""
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass
class IdentifyCall:
    request: profile_schemas.IdentifyRequest
    # Herald's field name -> the Segment field it came from, to name errors in Segment's terms.
    sources: dict[str, str]


def to_identify(message: Message) -> IdentifyCall:
    """An identify message as Herald's identify request. Raises InvalidInput."""
    traits = dict(message.traits)
    data: dict[str, Any] = {}
    sources = {
        "external_id": "userId",
        "anonymous_id": "anonymousId",
        "properties": "traits",
        "timezone": "context.timezone",
    }
    if message.user_id is not None:
        data["external_id"] = message.user_id
    if message.anonymous_id is not None:
        data["anonymous_id"] = message.anonymous_id
    for herald_name, segment_names in (
        ("email", ("email",)),
        ("phone", ("phone",)),
        ("first_name", ("firstName", "first_name")),
        ("last_name", ("lastName", "last_name")),
    ):
        for segment_name in segment_names:
            if segment_name not in traits:
                continue
            value = traits.pop(segment_name)
            if not _blank(value) and herald_name not in data:
                data[herald_name] = _text(value)
                sources[herald_name] = f"traits.{segment_name}"
    address = traits.get("address")
    if isinstance(address, dict):
        rest = dict(address)
        location = {}
        for segment_name, herald_name in ADDRESS_FIELDS.items():
            value = rest.pop(segment_name, None)
            if not _blank(value):
                location[herald_name] = _text(value)
                sources[f"location.{herald_name}"] = f"traits.address.{segment_name}"
        if location:
            data["location"] = location
        if rest:
            traits["address"] = rest
        else:
            del traits["address"]
    timezone = message.context.get("timezone")
    # Collected by the browser, not typed by anyone: an unknown zone is left out, not an error.
    if isinstance(timezone, str):
        with contextlib.suppress(ValueError):
            data["timezone"] = check_timezone(timezone)
    if traits:
        data["properties"] = traits
    try:
        request = profile_schemas.IdentifyRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(_renamed(validation_fields(exc.errors()), sources)) from None
    return IdentifyCall(request, sources)


def _renamed(fields: Sequence[FieldError], sources: dict[str, str]) -> list[FieldError]:
    return [FieldError(sources.get(f.field, f.field), f.reason) for f in fields]


def _restated(exc: HeraldError, fields: list[FieldError]) -> HeraldError:
    """The same error, its fields named in Segment's terms."""
    message = exc.message
    if exc.fields and fields and message.startswith(f"{exc.fields[0].field}: "):
        message = f"{fields[0].field}: {message[len(exc.fields[0].field) + 2 :]}"
    return type(exc)(message, fields, code=exc.code, headers=exc.headers)


def group_properties(current: dict[str, Any] | None, message: Message) -> dict[str, Any]:
    """The profile's `groups` property after this group call: the group's traits merged in."""
    assert message.group_id is not None  # checked by parse_message
    groups = (current or {}).get("groups")
    groups = dict(groups) if isinstance(groups, dict) else {}
    before = groups.get(message.group_id)
    groups[message.group_id] = {**(before if isinstance(before, dict) else {}), **message.traits}
    return {"groups": groups}


def alias_ids(message: Message) -> tuple[str, str]:
    """(previous id, user id) of an alias message."""
    previous = message.previous_id or message.anonymous_id
    assert previous is not None and message.user_id is not None  # checked by parse_message
    return previous, message.user_id


# --- Applying -----------------------------------------------------------------------------------


@dataclass
class Applied:
    """What one message did."""

    type: str
    profile_id: uuid.UUID
    event_id: uuid.UUID | None = None
    duplicate: bool = False
    created: bool = False
    merged_profile_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass
class ItemOutcome:
    index: int
    applied: Applied | None = None
    # Relative to the message; "" is the message itself.
    errors: list[FieldError] = field(default_factory=list)


def _event_error(error: FieldError) -> FieldError:
    return FieldError(_PROFILE_FIELDS.get(error.field, error.field), error.reason)


def _applied_event(message: Message, outcome: events_batch.Outcome) -> Applied:
    assert outcome.event_id is not None and outcome.profile_id is not None
    return Applied(
        type=message.type,
        profile_id=outcome.profile_id,
        event_id=outcome.event_id,
        duplicate=outcome.duplicate,
    )


def _apply_profile_message(session: Session, org_id: uuid.UUID, message: Message) -> Applied:
    """identify, group or alias, in a savepoint: on an error nothing of it stays."""
    with session.begin_nested():
        if message.type == "identify":
            call = to_identify(message)
            try:
                resolution = profiles.identify(session, org_id, call.request)
            except HeraldError as exc:
                raise _restated(exc, _renamed(exc.fields, call.sources)) from exc
        elif message.type == "group":
            resolution = identity.resolve(session, org_id, profile_ref(message))
            profile = resolution.profile
            try:
                fields = profile_schemas.ProfileFields(
                    properties=group_properties(profile.properties, message)
                )
            except ValidationError as exc:
                reasons = [e.reason for e in validation_fields(exc.errors())]
                raise InvalidInput.for_field("traits", "; ".join(reasons)) from None
            if profiles.apply_fields(profile, fields, None) and not resolution.created:
                identity.record_change(session, org_id, profile.id, "updated")
            session.flush()
        else:
            previous_id, user_id = alias_ids(message)
            if previous_id == user_id:
                resolution = identity.resolve(
                    session, org_id, identity.ProfileRef(external_id=user_id)
                )
            else:
                resolution = identity.alias(session, org_id, previous_id, user_id)
    return Applied(
        type=message.type,
        profile_id=resolution.profile.id,
        created=resolution.created,
        merged_profile_ids=list(resolution.merged_ids),
    )


def apply_message(
    session: Session,
    org_id: uuid.UUID,
    raw: Any,
    *,
    type_: str,
    received_at: datetime,
) -> Applied:
    """Apply one message sent to a single-message endpoint; raise its error, with Segment's field
    names (the message itself is "body")."""
    try:
        message = parse_message(raw, type_=type_)
        if message.type not in EVENT_TYPES:
            return _apply_profile_message(session, org_id, message)
        item = to_event(message, received_at)
    except HeraldError as exc:
        raise _restated(exc, [FieldError(f.field or "body", f.reason) for f in exc.fields]) from exc
    (outcome,) = events.ingest(session, org_id, [item], source=SOURCE)
    if outcome.error is not None:
        error = _event_error(outcome.error)
        raise InvalidInput(f"{error.field}: {error.reason}", [error])
    return _applied_event(message, outcome)


def apply_batch(
    session: Session, org_id: uuid.UUID, envelope: Envelope, *, received_at: datetime
) -> list[ItemOutcome]:
    """Apply a batch in order; one outcome per message. Bad messages change nothing."""
    outcomes = [ItemOutcome(index) for index in range(len(envelope.batch))]
    pending: list[tuple[int, Message, events_batch.EventInput]] = []

    def store_pending() -> None:
        if not pending:
            return
        stored = events.ingest(session, org_id, [item for _, _, item in pending], source=SOURCE)
        for (index, message, _), outcome in zip(pending, stored, strict=True):
            if outcome.error is not None:
                outcomes[index].errors = [_event_error(outcome.error)]
            else:
                outcomes[index].applied = _applied_event(message, outcome)
        pending.clear()

    for index, raw in enumerate(envelope.batch):
        try:
            message = parse_message(raw, context=envelope.context)
            if message.type in EVENT_TYPES:
                pending.append((index, message, to_event(message, received_at, envelope.sent_at)))
                continue
            store_pending()  # earlier events first: they may be about the profile this changes
            outcomes[index].applied = _apply_profile_message(session, org_id, message)
        except HeraldError as exc:
            outcomes[index].errors = exc.fields or [FieldError("", exc.message)]
    store_pending()
    return outcomes
