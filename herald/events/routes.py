"""HTTP handlers for tracking events (public key) and reading them back (management)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from herald.errors import InvalidInput, validation_fields
from herald.events import batch, grouped, schemas, service
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute, RequestRoute, json_or_invalid, model_body, read_model
from herald.tenancy.auth import IngestionAuth, ManagementAuth, ingestion_principal
from herald.tenancy.deps import DbSession
from herald.validation import unstorable_values

router = APIRouter(tags=["events"], route_class=JsonBodyRoute)

_event_adapter = TypeAdapter(schemas.TrackEvent)


async def track_event(request: Request) -> Response:
    """Record one event. The profile is found or created from `profile`."""
    auth = await ingestion_principal(request)
    event = read_model(schemas.TrackEvent, await request.body())
    # Stored together with the single events of concurrent requests, in one transaction; the
    # answer comes after that transaction's commit (see service.GroupCommit).
    future = grouped.single_events.submit(auth.org_id, batch.event_input(event))
    outcome = await asyncio.wrap_future(future)
    service.raise_error(outcome)
    content = {
        "event_id": outcome.event_id,
        "profile_id": outcome.profile_id,
        "duplicate": outcome.duplicate,
    }
    return Response(to_json(content), status.HTTP_202_ACCEPTED, media_type="application/json")


# The busiest endpoint reads its own request (see herald.routing).
router.add_api_route(
    "/api/track",
    track_event,
    methods=["POST"],
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="track_event",
    response_model=schemas.TrackResult,
    openapi_extra=model_body(schemas.TrackEvent),
    route_class_override=RequestRoute,
)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def parse_batch(
    body: bytes,
) -> tuple[list[tuple[int, schemas.TrackEvent]], list[schemas.BatchItemError]]:
    """The batch's good events by index, and the bad ones' problems. A batch of good events (the
    usual case) is parsed and validated in one pass over its bytes, without building its JSON as
    Python objects first; otherwise its outline is checked and each event validated on its own,
    so that one bad event does not sink the batch."""
    try:
        return list(enumerate(schemas.TrackBatch.model_validate_json(body).events)), []
    except ValidationError:
        pass
    data = json_or_invalid(body)
    if not isinstance(data, dict):
        raise InvalidInput.for_field("body", 'must be a JSON object: {"events": [...]}')
    problems = unstorable_values({key: item for key, item in data.items() if key != "events"})
    if problems:
        raise InvalidInput.for_fields(problems)
    try:
        outline = schemas.TrackBatchOutline.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.for_fields(validation_fields(exc.errors())) from None
    return validate_batch(outline.events)


def validate_batch(
    raw_events: list[dict[str, Any]], prefix: str = "events"
) -> tuple[list[tuple[int, schemas.TrackEvent]], list[schemas.BatchItemError]]:
    """Validate each item on its own and report the bad ones by index: values no database can
    store first (herald.validation.unstorable_values), then the event's own rules."""
    good: list[tuple[int, schemas.TrackEvent]] = []
    errors: list[schemas.BatchItemError] = []
    for index, raw in enumerate(raw_events):
        problems = unstorable_values(raw)
        if not problems:
            try:
                good.append((index, _event_adapter.validate_python(raw)))
                continue
            except ValidationError as exc:
                problems = validation_fields(exc.errors())
        errors.extend(
            schemas.BatchItemError(
                index=index, field=f"{prefix}[{index}].{error.field}", reason=error.reason
            )
            for error in problems
        )
    return good, errors


def batch_result(
    outcomes: list[batch.Outcome],
    positions: list[int],
    errors: list[schemas.BatchItemError],
    prefix: str = "events",
) -> dict[str, Any]:
    """A `TrackBatchResult` as plain data, ready to encode: a thousand results as models would
    be built, validated and serialized again, at a cost that shows next to storing them."""
    results: list[dict[str, Any]] = []
    accepted = duplicates = 0
    for outcome, index in zip(outcomes, positions, strict=True):
        if outcome.error is not None:
            errors.append(
                schemas.BatchItemError(
                    index=index,
                    field=f"{prefix}[{index}].{outcome.error.field}",
                    reason=outcome.error.reason,
                )
            )
        else:
            assert outcome.event_id is not None and outcome.profile_id is not None
            if outcome.duplicate:
                duplicates += 1
            else:
                accepted += 1
            results.append(
                {
                    "event_id": outcome.event_id,
                    "profile_id": outcome.profile_id,
                    "duplicate": outcome.duplicate,
                    "index": index,
                }
            )
    errors.sort(key=lambda e: e.index)
    return {
        "accepted": accepted,
        "duplicates": duplicates,
        "results": results,
        "errors": [e.model_dump() for e in errors],
    }


@router.post(
    "/api/track/batch",
    operation_id="track_events_batch",
    response_model=schemas.TrackBatchResult,
    openapi_extra=model_body(schemas.TrackBatch),
)
def track_events_batch(body: RawBody, auth: IngestionAuth, session: DbSession) -> Response:
    """Record up to 1,000 events (5 MB). Good events are stored; each bad one is reported by its
    index, and the rest of the batch is not affected. Retrying a batch is safe for events that
    carry a `unique_id`."""
    good, errors = parse_batch(body)
    outcomes = service.ingest(session, auth.org_id, [batch.event_input(e) for _, e in good])
    # Encoded here (the response model documents the shape): pydantic's encoder writes the
    # UUIDs without a model per result.
    content = to_json(batch_result(outcomes, [i for i, _ in good], errors))
    return Response(content, media_type="application/json")


@router.get("/api/metrics", operation_id="list_metrics")
def list_metrics(auth: ManagementAuth, session: DbSession) -> schemas.MetricList:
    """Every event name seen, with its count and when it was first and last seen."""
    metrics = service.list_metrics(session, auth.org_id)
    return schemas.MetricList(data=[schemas.Metric.model_validate(m) for m in metrics])


@router.get("/api/events", operation_id="list_events")
def list_events(
    auth: ManagementAuth,
    session: DbSession,
    name: str | None = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> schemas.EventList:
    """The newest events first, optionally of one name."""
    rows, next_cursor = service.recent_events(
        session, auth.org_id, name=name, limit=limit, cursor=cursor
    )
    return schemas.EventList(
        data=[schemas.Event.model_validate(e) for e in rows], next_cursor=next_cursor
    )
