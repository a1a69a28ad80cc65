"""Failover between an organization's email providers: an ordered list, a circuit breaker per
provider, per-second and per-day limits, all kept in the database (and the rate-limit storage,
Redis in production) so that every worker routes the same way.

A batch of messages goes to the first provider in the list that is available (breaker closed,
or half-open and this worker won the probe) and has room under its limits. What it refuses
without having taken it (a throttle, a 5xx answer, a failure to connect, a suspended account)
goes to the next one; before that call, each message's hand-over is written to the ledger and
committed. What a provider may have taken without saying so (a timeout after the request was
written) never goes to another provider: the message is pinned to it (`unsure_provider_id`)
and retried through it only, so no message is sent by two providers. docs/email.md, Failover,
states the rule and what is left to chance.

The breaker (its thresholds are settings of the install, `HERALD_EMAIL_BREAKER_*`): closed →
open after `failures` failed messages in a row, or an error rate of `error_rate` over at least
`window_minimum` messages within `window`, or at once when the provider says the account cannot
send; open → half-open after `cool_down`, when one worker sends a probe of `probe_size`
messages; half-open → closed on success, open again on failure.

A message no provider can take now (every breaker open, every limit reached) is held: back to
queued without using up an attempt, until the first breaker's cool-down ends; and when a
breaker closes (its probe succeeded, or an admin reset it), the organization's held messages are
kicked at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from limits import RateLimitItemPerDay, RateLimitItemPerSecond
from sqlalchemy.orm import Session

from herald import ratelimit
from herald.db import Database, utcnow
from herald.email.providers import build_provider, decrypt_entry
from herald.email.providers.base import (
    EmailProvider,
    OnAccepted,
    Outcome,
    OutgoingEmail,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    SendResult,
    TransientSendError,
    send_many,
)
from herald.messaging import ledger, suppression
from herald.messaging.service import release_held
from herald.models import EmailProviderEntry, Message
from herald.settings import get_settings

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# How long a batch waits for room under a per-second limit before trying the next provider.
PER_SECOND_PATIENCE = 2.0
# Messages a router hands to one provider call (a Postmark batch, or parallel API calls).
BATCH = 100
HANDOVER = "handover"
LATENCY_WEIGHT = 0.2  # of the newest call in the moving average
# A held message's error says why it waits; releasing looks for this text.
HELD = "held: no email provider of the list can take it now"
# When every provider is closed but at a limit, the next look at a held message.
LIMIT_RECHECK = timedelta(minutes=1)


@dataclass(frozen=True)
class Breaker:
    """The thresholds of every provider's circuit breaker (settings of the install)."""

    failures: int
    error_rate: float
    window: timedelta
    window_minimum: int
    cool_down: timedelta
    probe_size: int


def breaker() -> Breaker:
    settings = get_settings()
    return Breaker(
        failures=settings.email_breaker_failures,
        error_rate=settings.email_breaker_error_rate,
        window=timedelta(seconds=settings.email_breaker_window_seconds),
        window_minimum=settings.email_breaker_window_minimum,
        cool_down=timedelta(seconds=settings.email_breaker_cool_down_seconds),
        probe_size=settings.email_breaker_probe_size,
    )


class NoProviderNow(TransientSendError):
    """No provider of the list may take the message now: it waits until `until` without using
    up an attempt (or less, when a breaker closes first). Its text is HELD, which the message
    keeps as its error while it waits."""

    def __init__(self, until: datetime, last: SendError | None = None) -> None:
        super().__init__(HELD, code=last.code if last is not None else None)
        self.until = until
        if last is not None:
            self.provider_id, self.provider = last.provider_id, last.provider


@dataclass(frozen=True)
class Route:
    """A provider of the list, as read when the batch started."""

    id: uuid.UUID
    kind: str
    label: str
    per_second: int | None
    per_day: int | None
    config: dict[str, Any]


def routes_for(session: Session, org_id: uuid.UUID) -> list[Route]:
    rows = session.scalars(
        sa.select(EmailProviderEntry)
        .where(EmailProviderEntry.org_id == org_id, EmailProviderEntry.enabled.is_(True))
        .order_by(EmailProviderEntry.position, EmailProviderEntry.created_at)
    )
    return [
        Route(row.id, row.kind, row.label, row.per_second, row.per_day, decrypt_entry(row))
        for row in rows
    ]


def router_for(session: Session, org_id: uuid.UUID) -> Router | None:
    """The organization's failover router, or None when it keeps a single provider in its
    settings (no list)."""
    routes = routes_for(session, org_id)
    return Router(org_id, routes) if routes else None


def hand_over(
    database: Database,
    provider: EmailProvider,
    emails: Sequence[OutgoingEmail],
    on_accepted: OnAccepted | None = None,
) -> list[Outcome]:
    """Send a batch through a router (the list) or a single provider: an outcome per email.
    `on_accepted(index, result)` hears of each accepted email at once (see send_many)."""
    if isinstance(provider, Router):
        return provider.hand_over(database, emails, on_accepted)
    return send_many(provider, emails, on_accepted)


def note_refusal(session: Session, message: Message, refusal: SendError | None) -> None:
    """What a provider's refusal means beyond this attempt: an address the provider called
    invalid is suppressed as a hard bounce; a message the provider may have taken is pinned to
    it."""
    if isinstance(refusal, PermanentSendError) and refusal.suppress and message.to_address:
        suppression.suppress(
            session,
            message.org_id,
            "email",
            message.to_address,
            reason="hard_bounce",
            source=f"provider:{message.provider or 'unknown'}",
        )
    if isinstance(refusal, TransientSendError) and refusal.maybe_sent and refusal.provider_id:
        message.unsure_provider_id = refusal.provider_id


class Router:
    """Stands where a provider stands on the send path, for an organization with a list."""

    name = "failover"

    @property
    def batch_size(self) -> int:
        return BATCH

    def __init__(self, org_id: uuid.UUID, routes: list[Route]) -> None:
        self.org_id = org_id
        self.routes = routes
        self._providers: dict[uuid.UUID, EmailProvider] = {}

    def provider(self, route: Route) -> EmailProvider:
        if route.id not in self._providers:
            self._providers[route.id] = build_provider(route.kind, route.config)
        return self._providers[route.id]

    def _call(
        self, route: Route, emails: list[OutgoingEmail], on_accepted: OnAccepted | None = None
    ) -> list[Outcome]:
        try:
            provider = self.provider(route)
        except ProviderUnavailable as exc:
            return [exc] * len(emails)
        try:
            return send_many(provider, emails, on_accepted)
        except Exception as exc:
            logger.exception("provider %s raised on a batch", route.label)
            return [TransientSendError(repr(exc), maybe_sent=True) for _ in emails]

    def send(self, email: OutgoingEmail) -> SendResult:  # the protocol; the path uses hand_over
        raise NotImplementedError("the failover router sends through hand_over()")

    def hand_over(
        self,
        database: Database,
        emails: Sequence[OutgoingEmail],
        on_accepted: OnAccepted | None = None,
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(emails)
        pending = list(range(len(emails)))
        tried: dict[int, Route] = {}
        last_error: dict[int, SendError] = {}
        rules = breaker()
        for route in self.routes:
            candidates = [i for i in pending if emails[i].unsure_provider_id in (None, route.id)]
            while candidates:
                # After a probe, the breaker closed (the rest follows at once) or opened again.
                allowed = _admit(database, route, rules)
                if allowed == 0:
                    break
                take = candidates[:allowed]
                take = take[: _room(route, len(take))]
                if not take:
                    break
                handed = [i for i in take if i in tried]
                if handed:
                    _record_handover(
                        database, route, [(emails[i], tried[i], last_error[i]) for i in handed]
                    )
                started = time.monotonic()
                accepted = None if on_accepted is None else _routed(on_accepted, take, route)
                results = self._call(route, [emails[i] for i in take], accepted)
                _record_call(database, route, results, time.monotonic() - started, rules)
                for i, result in zip(take, results, strict=True):
                    tried[i] = route
                    if isinstance(result, SendError):
                        result.provider_id, result.provider = route.id, route.kind
                    if isinstance(result, SendResult):
                        outcomes[i] = replace(result, provider=route.kind, provider_id=route.id)
                    elif _may_go_elsewhere(result):
                        last_error[i] = result
                    else:
                        outcomes[i] = result
                pending = [i for i in pending if outcomes[i] is None]
                candidates = [i for i in candidates if i in pending and i not in take]
                if any(isinstance(r, ProviderUnavailable) for r in results):
                    break
        until: datetime | None = None
        for i in pending:
            error = last_error.get(i)
            if error is None or isinstance(error, ProviderUnavailable):
                if until is None:
                    until = _next_chance(database, self.routes, rules)
                outcomes[i] = NoProviderNow(until, error)
            else:
                outcomes[i] = error
        return [o for o in outcomes if o is not None]


def _routed(on_accepted: OnAccepted, take: list[int], route: Route) -> OnAccepted:
    """`on_accepted` for one call to a route: its indexes are those of the call's messages in
    the router's batch, and the answer names the route, as the router's own outcome does."""

    def accepted(index: int, result: SendResult) -> None:
        on_accepted(take[index], replace(result, provider=route.kind, provider_id=route.id))

    return accepted


def _may_go_elsewhere(result: SendError) -> bool:
    """A refusal that says the provider did not take the message, for a reason that is not the
    message's own: another provider may send it."""
    if isinstance(result, ProviderUnavailable):
        return True
    return isinstance(result, TransientSendError) and not result.maybe_sent


# --- The breaker ---------------------------------------------------------------------------------


def _admit(database: Database, route: Route, rules: Breaker) -> int:
    """How many messages the breaker lets through now: a batch (closed), `probe_size` (this
    worker won the half-open probe) or none."""
    now = utcnow()
    with database.transaction() as session:
        row = session.get(EmailProviderEntry, route.id)
        if row is None or not row.enabled:
            return 0
        if row.state == CLOSED:
            return BATCH
        due = _due(row, rules, now)
        if due is None or due > now:
            return 0
        won = session.execute(  # type: ignore[attr-defined]
            sa.update(EmailProviderEntry)
            .where(
                EmailProviderEntry.id == route.id,
                EmailProviderEntry.state == row.state,
                EmailProviderEntry.updated_at == row.updated_at,
            )
            .values(state=HALF_OPEN, probe_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        return rules.probe_size if won == 1 else 0


def _due(row: EmailProviderEntry, rules: Breaker, now: datetime) -> datetime | None:
    """When an open or half-open breaker lets a probe through (None: it is closed)."""
    if row.state == OPEN:
        return (row.opened_at or now) + rules.cool_down
    if row.state == HALF_OPEN:  # a prober that died frees the probe after a cool-down
        return (row.probe_at or now) + rules.cool_down
    return None


def _next_chance(database: Database, routes: Sequence[Route], rules: Breaker) -> datetime:
    """When a held message should be looked at again: the first cool-down's end, or a while
    when the closed providers were only full."""
    now = utcnow()
    with database.transaction() as session:
        rows = session.scalars(
            sa.select(EmailProviderEntry).where(
                EmailProviderEntry.id.in_([r.id for r in routes]),
                EmailProviderEntry.enabled.is_(True),
            )
        )
        times = [_due(row, rules, now) or now + LIMIT_RECHECK for row in rows]
    return max(now + timedelta(seconds=1), min(times, default=now + LIMIT_RECHECK))


def _record_call(
    database: Database,
    route: Route,
    results: Sequence[Outcome],
    seconds: float,
    rules: Breaker,
) -> None:
    """Count a call's outcomes against its provider and move the breaker."""
    now = utcnow()
    sent = sum(isinstance(r, SendResult) for r in results)
    failures = [r for r in results if isinstance(r, SendError) and _counts_against(r)]
    unavailable = next((r for r in failures if isinstance(r, ProviderUnavailable)), None)
    # Failures after the last success in this call: the run that goes on into the next call.
    trailing = 0
    for result in reversed(results):
        if isinstance(result, SendResult):
            break
        trailing += isinstance(result, SendError) and _counts_against(result)
    with database.transaction() as session:
        row = session.get(EmailProviderEntry, route.id, with_for_update=True)
        if row is None:
            return
        if row.window_started_at is None or now - row.window_started_at > rules.window:
            row.window_started_at, row.window_attempts, row.window_errors = now, 0, 0
        row.window_attempts += len(results)
        row.window_errors += len(failures)
        row.sent_total += sent
        row.failed_total += len(failures)
        millis = seconds * 1000 / max(1, len(results)) if results else None
        if millis is not None:
            row.latency_ms = (
                millis
                if row.latency_ms is None
                else row.latency_ms * (1 - LATENCY_WEIGHT) + millis * LATENCY_WEIGHT
            )
        if sent:
            row.consecutive_failures = trailing
            row.last_success_at = now
        else:
            row.consecutive_failures += len(failures)
        if failures:
            row.last_error = str(failures[-1])[:2000]
            row.last_error_at = now
        was = row.state
        if unavailable is not None or (was == HALF_OPEN and failures and not sent):
            _open(row, now)
        elif was == HALF_OPEN and (sent or not failures):
            # The provider answered the probe for itself (a refused address is the message's
            # fault): closed, and what waited for it goes now.
            _close(session, row, now)
        elif was == CLOSED and (
            row.consecutive_failures >= rules.failures
            or (
                row.window_attempts >= rules.window_minimum
                and row.window_errors / row.window_attempts >= rules.error_rate
            )
        ):
            _open(row, now)
        if row.state != was:
            logger.warning(
                "email provider %s (%s) %s -> %s: %s",
                route.label,
                route.id,
                was,
                row.state,
                row.last_error,
            )
        row.updated_at = now


def _counts_against(result: SendError) -> bool:
    """A failure of the provider, not of the message (a refused address counts for nothing)."""
    return not isinstance(result, PermanentSendError)


def _open(row: EmailProviderEntry, now: datetime) -> None:
    row.state, row.opened_at, row.probe_at = OPEN, now, None


def _close(session: Session, row: EmailProviderEntry, now: datetime | None) -> None:
    """Close the breaker, forget its recent errors, and release the organization's messages
    held while no provider could take them (kicked once the caller commits)."""
    row.state, row.opened_at, row.probe_at = CLOSED, None, None
    row.consecutive_failures = 0
    row.window_started_at, row.window_attempts, row.window_errors = now, 0, 0
    release_held(session, row.org_id, HELD)


def reset(session: Session, row: EmailProviderEntry) -> None:
    """Close the breaker by hand (an admin fixed the account) and forget its recent errors."""
    _close(session, row, None)
    session.flush()


# --- Limits --------------------------------------------------------------------------------------


def _room(route: Route, wanted: int) -> int:
    """How many of `wanted` messages fit under the provider's limits now (counted as used).
    A full second is waited out, up to PER_SECOND_PATIENCE; a full day is not."""
    count = wanted
    if route.per_day is not None:
        count = _reserve(RateLimitItemPerDay(route.per_day), route, count)
        if count == 0:
            return 0
    if route.per_second is not None:
        item = RateLimitItemPerSecond(route.per_second)
        deadline = time.monotonic() + PER_SECOND_PATIENCE
        fitted = _reserve(item, route, min(count, route.per_second))
        while fitted == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            fitted = _reserve(item, route, min(count, route.per_second))
        count = fitted
    return count


def _reserve(item: Any, route: Route, count: int) -> int:
    """The largest part of `count` (halving) that fits the limit, counted as used."""
    identifiers = ("email-provider", str(route.id))
    while count > 0:
        if ratelimit.reserve(item, identifiers, count):
            return count
        count //= 2
    return 0


# --- The ledger ----------------------------------------------------------------------------------


def _record_handover(
    database: Database,
    route: Route,
    handed: list[tuple[OutgoingEmail, Route, SendError]],
) -> None:
    """Write each message's hand-over and commit, before the next provider is called."""
    with database.transaction() as session:
        ledger.add_events(
            session,
            HANDOVER,
            [
                (
                    email.org_id,
                    email.message_id,
                    {
                        "from": previous.kind,
                        "from_id": str(previous.id),
                        "to": route.kind,
                        "to_id": str(route.id),
                        "error": str(error)[:500],
                    },
                )
                for email, previous, error in handed
            ],
        )
