"""Webhook steps: the delivery, its signature, and each organization's signing secret.

A delivery is a POST of JSON to the step's URL through the guarded client (herald.outbound):
addresses that are not public are refused when the connection is made (the URL was also checked
when the flow was saved, but DNS can change), redirects are not followed, and every request has
a timeout. Headers sent:

- `Content-Type: application/json`
- `Herald-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the organization's
  signing secret (docs/flows.md shows how to verify it);
- `Herald-Delivery: <enrolment id>:<step id>`: the same on every try of one step, so a receiver
  can recognise a repeat (a worker that dies during a request makes it again: at least once).

Outcomes: a 2xx answer moves the enrolment on. A 5xx answer or a timeout is tried again later,
with growing pauses, up to MAX_ATTEMPTS tries; anything else (a 4xx, a redirect, a refused
address, a body template that does not render) fails the enrolment with the reason.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.flows.definition import Webhook
from herald.flows.engine import ENROLMENT_COLUMNS, Batch, Work, load, run_locked
from herald.flows.steps import event_view
from herald.messaging import ledger
from herald.models import Flow, FlowEnrolment, FlowSettings, Profile
from herald.outbound import SIGNATURE_HEADER, DestinationRefused, outbound_client, sign
from herald.security import decrypt, encrypt
from herald.templates.rendering import TemplateError, profile_context, render_text

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
TIMEOUT = 10.0
RETRY_BASE = timedelta(seconds=30)
DELIVERY_HEADER = "Herald-Delivery"
# Deliveries made at the same time by one batch.
PARALLEL = 8


def retry_delay(attempt: int) -> timedelta:
    """The pause after failed try number `attempt`: 30 s, 2 min, 8 min, 32 min."""
    return RETRY_BASE * int(4 ** (attempt - 1))


# --- The signing secret --------------------------------------------------------------------------


def signing_secret(session: Session, org_id: uuid.UUID) -> str:
    """The organization's webhook signing secret, made on first use (stored encrypted)."""
    row = session.get(FlowSettings, org_id)
    if row is None:
        now = utcnow()
        ledger.bulk_insert(
            session,
            FlowSettings,
            [
                {
                    "org_id": org_id,
                    "webhook_signing_secret": encrypt(_new_secret()),
                    "created_at": now,
                    "updated_at": now,
                }
            ],
            skip_conflicts=("org_id",),
        )
        row = session.get(FlowSettings, org_id, populate_existing=True)
        assert row is not None
    return decrypt(row.webhook_signing_secret)


def rotate_signing_secret(session: Session, org_id: uuid.UUID) -> str:
    """A new secret; deliveries from now on are signed with it."""
    signing_secret(session, org_id)
    row = session.get(FlowSettings, org_id)
    assert row is not None
    secret = _new_secret()
    row.webhook_signing_secret = encrypt(secret)
    row.updated_at = utcnow()
    session.flush()
    return secret


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# --- Delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    enrolment_id: uuid.UUID
    step_id: str
    attempt: int
    url: str = ""
    headers: dict[str, str] | None = None
    body: bytes = b""
    problem: str | None = None  # why no request could be made (a template error)


@dataclass(frozen=True)
class Answer:
    delivery: Delivery
    status_code: int | None = None
    error: str | None = None
    retry: bool = False


# Batches of deliveries being made beside the engine, at most: past that, the engine makes them
# itself (and so slows down) rather than queue them until their leases run out.
BACKLOG = 4
_beside = ThreadPoolExecutor(max_workers=BACKLOG, thread_name_prefix="flow-webhooks")
_in_hand = threading.BoundedSemaphore(BACKLOG)


def deliver_beside(database: Database, wanted: list[tuple[uuid.UUID, str, int]]) -> None:
    """`deliver` in a thread of its own, so that a slow receiver does not hold back the steps
    of every other flow in this process. If this process dies meanwhile, the leases run out and
    another worker delivers."""
    if not _in_hand.acquire(blocking=False):
        deliver(database, wanted)
        return

    def job() -> None:
        try:
            deliver(database, wanted)
        except Exception:
            logger.exception("webhook deliveries failed; they are tried again when due")
        finally:
            _in_hand.release()

    _beside.submit(job)


def deliver(database: Database, wanted: list[tuple[uuid.UUID, str, int]]) -> None:
    """Make the deliveries that a batch leased, and record their outcomes."""
    with database.transaction() as session:
        deliveries = _prepare(session, wanted)
    if not deliveries:
        return
    with outbound_client(TIMEOUT) as client, ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(lambda d: _send(client, d), deliveries))
    with database.transaction() as session:
        record(session, answers)


def _prepare(session: Session, wanted: list[tuple[uuid.UUID, str, int]]) -> list[Delivery]:
    rows = session.execute(
        sa.select(*ENROLMENT_COLUMNS).where(
            FlowEnrolment.id.in_([enrolment_id for enrolment_id, _, _ in wanted])
        )
    ).all()
    works = {w.id: w for w in load(session, [Work(*row) for row in rows])}
    names = dict(
        session.execute(
            sa.select(Flow.id, Flow.name).where(Flow.id.in_({w.flow_id for w in works.values()}))
        ).all()
    )
    deliveries = []
    for enrolment_id, step_id, attempt in wanted:
        work = works.get(enrolment_id)
        if work is None or work.step != step_id or work.attempts != attempt:
            continue  # moved on, removed or archived meanwhile
        step: Webhook = work.current()
        profile = session.get(Profile, work.profile_id)
        flow = {
            "id": str(work.flow_id),
            "name": names.get(work.flow_id, ""),
            "enrolment_id": str(work.id),
            "step_id": step_id,
        }
        context = {
            "profile": profile_context(profile),
            "event": event_view(work.trigger),
            "flow": flow,
        }
        try:
            body = (
                render_text(step.webhook.body, context, "webhook.body")
                if step.webhook.body is not None
                else json.dumps(context, default=str, ensure_ascii=False)
            ).encode()
        except TemplateError as exc:
            problem = "; ".join(p.describe() for p in exc.problems)
            deliveries.append(Delivery(enrolment_id, step_id, attempt, problem=problem))
            continue
        secret = signing_secret(session, work.org_id)
        headers = {
            **step.webhook.headers,
            "Content-Type": "application/json",
            "User-Agent": "Herald-Webhooks",
            DELIVERY_HEADER: f"{enrolment_id}:{step_id}",
            SIGNATURE_HEADER: sign(secret, body),
        }
        deliveries.append(Delivery(enrolment_id, step_id, attempt, step.webhook.url, headers, body))
    return deliveries


def _send(client: httpx.Client, delivery: Delivery) -> Answer:
    if delivery.problem is not None:
        return Answer(delivery, error=f"the body did not render: {delivery.problem}")
    try:
        response = client.post(delivery.url, content=delivery.body, headers=delivery.headers)
    except DestinationRefused as exc:
        return Answer(delivery, error=f"refused: {exc}")
    except httpx.TimeoutException:
        return Answer(delivery, error=f"no answer within {TIMEOUT:g} s", retry=True)
    except httpx.HTTPError as exc:
        return Answer(delivery, error=f"the request failed: {type(exc).__name__}: {exc}")
    code = response.status_code
    if 200 <= code < 300:
        return Answer(delivery, status_code=code)
    if code >= 500:
        return Answer(delivery, status_code=code, error=f"answered {code}", retry=True)
    return Answer(delivery, status_code=code, error=f"answered {code}")


def record(session: Session, answers: list[Answer], now: datetime | None = None) -> None:
    """Record each answer where its enrolment still stands on the step, with the same try."""
    by_id = {answer.delivery.enrolment_id: answer for answer in answers}

    def act(batch: Batch, works: list[Work]) -> None:
        for work in works:
            answer = by_id[work.id]
            delivery = answer.delivery
            if work.step != delivery.step_id or work.attempts != delivery.attempt:
                continue
            detail: dict[str, Any] = {"attempts": delivery.attempt}
            if answer.status_code is not None:
                detail["status_code"] = answer.status_code
            if answer.error is None:
                batch.advance(work, "next", "delivered", detail)
            elif answer.retry and delivery.attempt < MAX_ATTEMPTS:
                batch.hold(work, batch.now + retry_delay(delivery.attempt))
            else:
                batch.fail(work, f"webhook {answer.error}", detail)

    run_locked(session, list(by_id), act, now=now)
