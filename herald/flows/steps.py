"""What each type of flow step does, for a whole batch of enrolments at once.

Each handler gets the due enrolments of one step type (from any flows) and, for each, records an
outcome and advances it (`batch.advance`), holds it until a time (`batch.hold`) or ends it. The
handlers are registered by step type (`engine.step_handler`): a new channel's step adds a
handler here or in its own module, and nothing else changes.

`attempts` tells a step's first visit from a later one: 0 when the enrolment has just arrived,
1 or more once the step started (a delay counting down, a wait begun, a webhook's tries).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from herald.campaigns.sendtime import resolve_timezone
from herald.db import json_text
from herald.errors import HeraldError
from herald.flows import enrolments
from herald.flows.definition import (
    UNIT_SECONDS,
    WEEKDAYS,
    ConditionalSplit,
    DelayStep,
    RandomSplit,
    SendEmail,
    TriggerSplit,
    UpdateProfile,
    WaitStep,
    parse_time_of_day,
)
from herald.flows.engine import Batch, Work, anchor, step_handler
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import FlowEnrolment, Message, Organization, Profile, SegmentMember
from herald.profiles import schemas as profile_schemas
from herald.profiles import service as profiles
from herald.segments.compiler import compare_json

# How long a webhook step holds its enrolment while the request is made after the commit: a
# worker that dies meanwhile leaves it to run out, and the delivery is made again.
WEBHOOK_LEASE = timedelta(minutes=2)


def message_key(flow_id: uuid.UUID, enrolment_id: uuid.UUID, step_id: str) -> str:
    """A flow message's idempotency key in the ledger (email or SMS): one message per
    enrolment and step."""
    return f"flow:{flow_id}:{enrolment_id}:{step_id}"


# --- Time ----------------------------------------------------------------------------------------


def _zones(batch: Batch, works: list[Work]) -> dict[uuid.UUID, Any]:
    """Each enrolment's time zone: its profile's, else its organization's."""
    profile_zones = dict(
        batch.session.execute(
            sa.select(Profile.id, Profile.timezone).where(
                Profile.id.in_({w.profile_id for w in works})
            )
        ).all()
    )
    org_zones = dict(
        batch.session.execute(
            sa.select(Organization.id, Organization.timezone).where(
                Organization.id.in_({w.org_id for w in works})
            )
        ).all()
    )
    return {
        w.id: resolve_timezone(profile_zones.get(w.profile_id), org_zones.get(w.org_id))
        for w in works
    }


def next_local_time(
    now: datetime, zone: Any, weekdays: Sequence[str], time_of_day: str
) -> datetime:
    """The first moment after `now` that is one of `weekdays` at `time_of_day` in `zone`."""
    wall = parse_time_of_day(time_of_day)
    local_now = now.astimezone(zone)
    for days in range(8):
        day = local_now.date() + timedelta(days=days)
        if WEEKDAYS[day.weekday()] not in weekdays:
            continue
        candidate = datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("a week always has the weekday")  # pragma: no cover


# --- Delay ---------------------------------------------------------------------------------------


@step_handler("delay")
def delay(batch: Batch, works: list[Work]) -> None:
    """First visit: hold until the delay ends (never early). Due again: the delay is over."""
    arriving = [w for w in works if w.attempts == 0]
    zones = _zones(batch, [w for w in arriving if w.current().delay.until is not None])
    for work in works:
        step: DelayStep = work.current()
        if work.attempts > 0:
            batch.advance(work, "next")
            continue
        settings = step.delay
        if settings.until is not None:
            until = next_local_time(
                batch.now, zones[work.id], settings.until.weekdays, settings.until.time_of_day
            )
        else:
            assert settings.amount is not None
            until = batch.now + timedelta(seconds=settings.amount * UNIT_SECONDS[settings.unit])
        batch.hold(work, until, attempts=1)


# --- Wait for an event or a segment entry --------------------------------------------------------


def wait_started(work: Work) -> datetime:
    """When a waiting enrolment began to wait (its due time is that plus the timeout)."""
    step: WaitStep = work.current()
    assert work.due_at is not None
    return work.due_at - timedelta(seconds=step.timeout.seconds)


@step_handler("wait")
def wait(batch: Batch, works: list[Work]) -> None:
    """First visit: wait, until the timeout (output `no`) or until the event arrives or the
    profile enters the segment (output `yes`; herald.flows.triggers wakes it). Someone already
    in the segment goes on at once."""
    members: set[tuple[uuid.UUID, uuid.UUID]] = set()
    segment_waits = [
        w for w in works if w.attempts == 0 and w.current().wait_for.type == "segment_entered"
    ]
    if segment_waits:
        members = set(
            batch.session.execute(
                sa.select(SegmentMember.segment_id, SegmentMember.profile_id).where(
                    SegmentMember.segment_id.in_(
                        {w.current().wait_for.segment_id for w in segment_waits}
                    ),
                    SegmentMember.profile_id.in_({w.profile_id for w in segment_waits}),
                )
            ).all()
        )
    for work in works:
        step: WaitStep = work.current()
        if work.attempts > 0:
            batch.advance(work, "no", "timed out")
            continue
        if step.wait_for.type == "segment_entered" and (
            (step.wait_for.segment_id, work.profile_id) in members
        ):
            batch.advance(work, "yes", detail={"already_in_segment": True})
            continue
        until = batch.now + timedelta(seconds=step.timeout.seconds)
        batch.hold(work, until, status=enrolments.WAITING, attempts=1)


# --- Splits --------------------------------------------------------------------------------------


@step_handler("conditional_split")
def conditional_split(batch: Batch, works: list[Work]) -> None:
    groups: dict[tuple[Any, ...], list[Work]] = defaultdict(list)
    for work in works:
        condition = work.current().condition
        groups[(work.flow_id, work.version, work.step, anchor(condition, work))].append(work)
    for group in groups.values():
        step: ConditionalSplit = group[0].current()
        matching = enrolments.matching_profiles(
            batch.session,
            group[0].org_id,
            step.condition,
            sorted({w.profile_id for w in group}),
            batch.now,
            group[0].entered_at,
        )
        for work in group:
            batch.advance(work, "yes" if work.profile_id in matching else "no")


def _trigger_properties(dialect: str) -> Any:
    """The trigger's properties (an object inside the enrolment's `trigger`), as JSON."""
    if dialect == "postgresql":
        return FlowEnrolment.trigger["properties"]
    return sa.func.json_extract(FlowEnrolment.trigger, "$.properties")


@step_handler("trigger_split")
def trigger_split(batch: Batch, works: list[Work]) -> None:
    """`yes` when the trigger event's properties (or the API payload) match every filter: the
    same comparisons as segment conditions, in SQL over the stored trigger."""
    properties = _trigger_properties(batch.session.get_bind().dialect.name)
    groups: dict[tuple[Any, ...], list[Work]] = defaultdict(list)
    for work in works:
        groups[(work.flow_id, work.version, work.step)].append(work)
    for group in groups.values():
        step: TriggerSplit = group[0].current()
        tests = [
            compare_json(f, json_text(properties, f.property), batch.now) for f in step.filters
        ]
        matching = set(
            batch.session.scalars(
                sa.select(FlowEnrolment.id).where(
                    FlowEnrolment.id.in_([w.id for w in group]), *tests
                )
            )
        )
        for work in group:
            batch.advance(work, "yes" if work.id in matching else "no")


def random_branch(enrolment_id: uuid.UUID, step: RandomSplit) -> str:
    """The branch an enrolment takes: by weight, and the same every time for an enrolment."""
    digest = hashlib.sha256(f"{enrolment_id}:{step.id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(b.weight for b in step.branches)
    for branch in step.branches:
        if point < branch.weight:
            return branch.name
        point -= branch.weight
    raise AssertionError("weights cover every point")  # pragma: no cover


@step_handler("random_split")
def random_split(batch: Batch, works: list[Work]) -> None:
    for work in works:
        batch.advance(work, random_branch(work.id, work.current()))


@step_handler("exit")
def exit_step(batch: Batch, works: list[Work]) -> None:
    for work in works:
        batch.record(work, "exited")
        batch.end(work, enrolments.EXITED, enrolments.REASON_EXIT_STEP)


# --- Send email ----------------------------------------------------------------------------------


def recently_messaged(
    batch: Batch, org_id: uuid.UUID, profile_ids: set[uuid.UUID], hours: int, channel: str
) -> set[uuid.UUID]:
    """Profiles that got a marketing message on `channel` in the last `hours` (smart sending,
    the same rule as campaigns: any marketing message that was not refused or failed)."""
    since = batch.now - timedelta(hours=hours)
    return set(
        batch.session.scalars(
            sa.select(Message.profile_id)
            .where(
                Message.org_id == org_id,
                Message.profile_id.in_(profile_ids),
                Message.channel == channel,
                Message.marketing.is_(True),
                Message.status.notin_((ledger.FAILED, ledger.SUPPRESSED, ledger.SKIPPED)),
                sa.func.coalesce(Message.sent_at, Message.created_at) >= since,
            )
            .distinct()
        )
    )


@step_handler("send_email")
def send_email(batch: Batch, works: list[Work]) -> None:
    """Live: the email goes into the ledger under the key flow + enrolment + step (so a batch
    done twice queues it once), skipped by smart sending when the person had marketing email
    recently. Draft: nothing is sent; what would have been is recorded."""
    live: list[Work] = []
    for work in works:
        step: SendEmail = work.current()
        if step.email.status == "draft":
            batch.advance(work, "next", "draft", _email_detail(step))
        else:
            live.append(work)
    groups: dict[tuple[uuid.UUID, int], list[Work]] = defaultdict(list)
    for work in live:
        email = work.current().email
        groups[(work.org_id, email.smart_sending_hours if email.smart_sending else 0)].append(work)
    kicks: list[tuple[uuid.UUID, datetime | None]] = []
    for (org_id, hours), group in groups.items():
        recent = (
            recently_messaged(batch, org_id, {w.profile_id for w in group}, hours, "email")
            if hours
            else set()
        )
        sending = []
        for work in group:
            if work.profile_id in recent:
                batch.advance(work, "next", "skipped", {"reason": f"smart sending ({hours} h)"})
            else:
                sending.append(work)
        by_flow: dict[uuid.UUID, list[Work]] = defaultdict(list)
        for work in sending:
            by_flow[work.flow_id].append(work)
        for flow_id, flow_works in by_flow.items():
            kicks.extend(_queue(batch, org_id, flow_id, flow_works))
    messages.kick_sends(batch.session, kicks)


def _email_detail(step: SendEmail) -> dict[str, Any]:
    email = step.email
    return {
        "template_id": str(email.template_id),
        **{
            name: value
            for name, value in (
                ("subject", email.subject),
                ("from_name", email.from_name),
                ("from_email", email.from_email),
            )
            if value
        },
    }


def _queue(
    batch: Batch, org_id: uuid.UUID, flow_id: uuid.UUID, works: list[Work]
) -> list[tuple[uuid.UUID, datetime | None]]:
    requests = []
    for work in works:
        step: SendEmail = work.current()
        overrides = {
            name: value
            for name, value in (
                ("subject", step.email.subject),
                ("from_name", step.email.from_name),
                ("from_email", step.email.from_email),
            )
            if value
        }
        requests.append(
            messages.EmailRequest(
                idempotency_key=message_key(flow_id, work.id, step.id),
                to_profile_id=work.profile_id,
                template_id=step.email.template_id,
                overrides=overrides,
                event=event_view(work.trigger),
            )
        )
    outcomes = messages.queue_emails(
        batch.session, org_id, requests, source="flow", source_id=flow_id, marketing=True
    )
    kicks = []
    for work, outcome in zip(works, outcomes, strict=True):
        step = work.current()
        if isinstance(outcome, HeraldError):
            # No address, or the template is gone: the step is skipped, the flow goes on.
            batch.advance(work, "next", "skipped", {"reason": outcome.message})
            continue
        batch.advance(work, "next", "sent", _email_detail(step), message_id=outcome.message_id)
        if outcome.status == ledger.QUEUED:
            kicks.append((outcome.message_id, outcome.send_after))
    return kicks


def event_view(trigger: dict[str, Any]) -> dict[str, Any]:
    """What templates see as `event`: the trigger event's properties (or the API payload), with
    its name, time and value."""
    view = dict(trigger.get("properties") or {})
    for name in ("metric", "time", "value"):
        if trigger.get(name) is not None:
            view.setdefault(name, trigger[name])
    return view


# --- Update profile ------------------------------------------------------------------------------


@step_handler("update_profile")
def update_profile(batch: Batch, works: list[Work]) -> None:
    """Set, unset and increment custom properties through the profiles service, which records
    the change, so segments (and segment-triggered flows) see it."""
    for work in works:
        step: UpdateProfile = work.current()
        profile = profiles.get_profile(batch.session, work.org_id, work.profile_id)
        current = dict(profile.properties or {})
        changes: dict[str, Any] = dict(step.update.set)
        for name, amount in step.update.increment.items():
            value = current.get(name)
            base = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
            total = base + amount
            changes[name] = int(total) if float(total).is_integer() else total
        request = profile_schemas.ProfileUpdate(
            properties=changes or None, unset=list(step.update.unset)
        )
        profiles.update_profile(batch.session, work.org_id, profile.id, request)
        batch.advance(
            work,
            "next",
            "updated",
            {
                "set": sorted(step.update.set),
                "unset": step.update.unset,
                "increment": sorted(step.update.increment),
            },
        )


# --- Webhook -------------------------------------------------------------------------------------


@step_handler("webhook")
def webhook(batch: Batch, works: list[Work]) -> None:
    """Hold the enrolment for a lease and deliver after the commit (herald.flows.webhooks);
    due again means a retry's time has come, or a worker died during the delivery."""
    from herald.flows.webhooks import MAX_ATTEMPTS

    for work in works:
        if work.attempts >= MAX_ATTEMPTS:
            batch.fail(work, f"the webhook was not delivered after {work.attempts} attempts")
            continue
        attempt = work.attempts + 1
        batch.hold(work, batch.now + WEBHOOK_LEASE, attempts=attempt)
        assert work.step is not None
        batch.deliveries.append((work.id, work.step, attempt))
