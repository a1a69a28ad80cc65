"""HTTP handlers for tracking events (public key) and reading them back (management)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import TypeAdapter, ValidationError

from herald.errors import validation_fields
from herald.events import schemas, service
from herald.tenancy.auth import ManagementAuth, PublicAuth
from herald.tenancy.deps import DbSession

router = APIRouter(tags=["events"])

_event_adapter = TypeAdapter(schemas.TrackEvent)
_batch_adapter = TypeAdapter(list[schemas.TrackEvent])


@router.post("/api/track", status_code=status.HTTP_202_ACCEPTED, operation_id="track_event")
def track_event(
    body: schemas.TrackEvent, auth: PublicAuth, session: DbSession
) -> schemas.TrackResult:
    """Record one event. The profile is found or created from `profile`."""
    outcome = service.track_one(session, auth.org_id, service.event_input(body))
    assert outcome.event_id is not None and outcome.profile_id is not None
    return schemas.TrackResult(
        event_id=outcome.event_id, profile_id=outcome.profile_id, duplicate=outcome.duplicate
    )


def validate_batch(
    raw_events: list[dict[str, Any]], prefix: str = "events"
) -> tuple[list[tuple[int, schemas.TrackEvent]], list[schemas.BatchItemError]]:
    """Validate each item on its own, so that one bad event does not sink the batch."""
    try:
        return list(enumerate(_batch_adapter.validate_python(raw_events))), []
    except ValidationError:
        pass
    good: list[tuple[int, schemas.TrackEvent]] = []
    errors: list[schemas.BatchItemError] = []
    for index, raw in enumerate(raw_events):
        try:
            good.append((index, _event_adapter.validate_python(raw)))
        except ValidationError as exc:
            for error in validation_fields(exc.errors()):
                errors.append(
                    schemas.BatchItemError(
                        index=index, field=f"{prefix}[{index}].{error.field}", reason=error.reason
                    )
                )
    return good, errors


def batch_result(
    outcomes: list[service.Outcome],
    positions: list[int],
    errors: list[schemas.BatchItemError],
    prefix: str = "events",
) -> schemas.TrackBatchResult:
    results: list[schemas.BatchItemResult] = []
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
            results.append(
                schemas.BatchItemResult(
                    index=index,
                    event_id=outcome.event_id,
                    profile_id=outcome.profile_id,
                    duplicate=outcome.duplicate,
                )
            )
    errors.sort(key=lambda e: e.index)
    return schemas.TrackBatchResult(
        accepted=sum(1 for r in results if not r.duplicate),
        duplicates=sum(1 for r in results if r.duplicate),
        results=results,
        errors=errors,
    )


@router.post("/api/track/batch", operation_id="track_events_batch")
def track_events_batch(
    body: schemas.TrackBatch, auth: PublicAuth, session: DbSession
) -> schemas.TrackBatchResult:
    """Record up to 1,000 events (5 MB). Good events are stored; each bad one is reported by its
    index, and the rest of the batch is not affected. Retrying a batch is safe for events that
    carry a `unique_id`."""
    good, errors = validate_batch(body.events)
    outcomes = service.ingest(session, auth.org_id, [service.event_input(e) for _, e in good])
    return batch_result(outcomes, [i for i, _ in good], errors)


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
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> schemas.EventList:
    """The newest events first, optionally of one name."""
    rows, next_cursor = service.recent_events(
        session, auth.org_id, name=name, limit=limit, cursor=cursor
    )
    return schemas.EventList(
        data=[schemas.Event.model_validate(e) for e in rows], next_cursor=next_cursor
    )
