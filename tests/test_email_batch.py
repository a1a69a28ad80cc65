"""Sending in batches: a send task's batch claimed, checked, rendered, handed over and recorded
message by message in outcome but in a few statements; the bulk queueing a campaign's fan-out
uses; kicks in batches; the ledger's batch writes on both databases; MIME parts sent as they are
when they can be; the SMTP client's own dot-stuffing and address quoting."""

from __future__ import annotations

import smtplib
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dkim
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.campaigns import fanout, lifecycle
from herald.campaigns import service as campaigns
from herald.db import Database, new_id, utcnow
from herald.email import batch as email_batch
from herald.email import claiming, configuration, gates, heartbeats, mime
from herald.email import service as sending
from herald.email.providers import OutgoingEmail, SendResult, TransientSendError
from herald.email.providers.smtp import ConnectionPool, SmtpProvider, _quote
from herald.email.schemas import EmailSettingsUpdate
from herald.errors import InvalidInput, NotFound
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.models import (
    CampaignRecipient,
    Consent,
    Message,
    MessageEvent,
    Profile,
    Segment,
    SegmentMember,
    Suppression,
)
from herald.templates import service as templates
from herald.worker import huey
from tests.conftest import Backend
from tests.factories import make_org
from tests.queueing import drain, queued, use_real_queue
from tests.test_smtp import Handler, Server, config, outgoing, serve

TEMPLATE_HTML = (
    '<html><body><p>Hi {{ profile.first_name }}</p><a href="https://shop.example/sale">Sale</a>'
    '<p>{{ organization.postal_address }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    "</body></html>"
)


class Recording:
    """A provider that records what it was handed (thread-safe), failing for the addresses in
    `fail` with a transient error, and running `during(email)` before each send."""

    name = "recording"

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.calls: list[OutgoingEmail] = []
        self.lock = threading.Lock()
        self.during: Any = None

    def send(self, email: OutgoingEmail) -> SendResult:
        if self.during is not None:
            self.during(email)
        with self.lock:
            self.calls.append(email)
        if email.envelope_to[0] in self.fail:
            raise TransientSendError("451 try again later", code=451)
        return SendResult(provider_message_id=f"rec-{email.message_id}")


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Recording:
    recording = Recording()
    monkeypatch.setattr(claiming, "get_provider", lambda _settings: recording)
    return recording


def _org_with_audience(
    database: Database, count: int
) -> tuple[uuid.UUID, uuid.UUID, list[Profile]]:
    """An organization with its sending settings (through the settings service), a marketing
    template and `count` profiles p0@example.com, ..."""
    org = make_org()
    with database.transaction() as session:
        configuration.update(
            session,
            org.org_id,
            EmailSettingsUpdate(
                default_from_email="shop@acme.example",
                postal_address="1 Harbour Street, Portsmouth",
            ),
        )
        template = templates.create_template(
            session,
            org.org_id,
            {
                "name": "News",
                "subject": "News for {{ profile.first_name }}",
                "body_format": "html",
                "body": TEMPLATE_HTML,
            },
        )
        profiles = [
            Profile(org_id=org.org_id, email=f"p{i}@example.com", first_name=f"P{i}")
            for i in range(count)
        ]
        session.add_all(profiles)
    return org.org_id, template.id, profiles


def _queue(
    database: Database,
    org_id: uuid.UUID,
    template_id: uuid.UUID,
    profiles: list[Profile],
    *,
    source: str = "transactional",
    source_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Marketing messages to these profiles, from a source no send gate asks about (flows and
    campaigns have gates, which would skip messages of a flow or campaign that does not exist)."""
    with database.transaction() as session:
        outcomes = messages.queue_emails(
            session,
            org_id,
            [
                messages.EmailRequest(
                    idempotency_key=f"test:{uuid.uuid4()}",
                    to_profile_id=p.id,
                    template_id=template_id,
                )
                for p in profiles
            ],
            source=source,
            source_id=source_id or uuid.uuid4(),
            marketing=True,
        )
    ids = []
    for outcome in outcomes:
        assert isinstance(outcome, messages.QueuedEmail)
        ids.append(outcome.message_id)
    return ids


def _events(database: Database, message_id: uuid.UUID) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                sa.select(MessageEvent.kind)
                .where(MessageEvent.message_id == message_id)
                .order_by(MessageEvent.at, MessageEvent.id)
            )
        )


def _statuses(database: Database, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    with database.transaction() as session:
        rows = session.execute(sa.select(Message.id, Message.status).where(Message.id.in_(ids)))
        return dict(rows.all())  # type: ignore[arg-type]


# --- A batch, message by message ---------------------------------------------------------------


def test_a_batch_gives_each_message_its_own_outcome(
    database: Database, provider: Recording
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 7)
    ids = _queue(database, org_id, template_id, profiles)
    ok, suppressed, withdrawn, flaky, later, done = ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
    with database.transaction() as session:
        session.add(
            Suppression(
                org_id=org_id, channel="email", address="p1@example.com", reason="unsubscribed"
            )
        )
        session.add(
            Consent(
                org_id=org_id,
                profile_id=profiles[2].id,
                channel="email",
                granted=False,
                source="api",
            )
        )
        session.execute(
            sa.update(Message)
            .where(Message.id == later)
            .values(send_after=utcnow() + timedelta(hours=1))
        )
        session.execute(sa.update(Message).where(Message.id == done).values(status="sent"))
    provider.fail = {"p3@example.com"}
    missing = new_id()

    outcomes = sending.send_messages(database, [*ids, missing])

    assert outcomes == {
        ok: "sent",
        suppressed: "suppressed",
        withdrawn: "skipped",
        flaky: "retry",
        later: "not-claimed",
        done: "done",
        ids[6]: "sent",
        missing: "missing",
    }
    assert sorted(c.envelope_to[0] for c in provider.calls) == [
        "p0@example.com",
        "p3@example.com",
        "p6@example.com",
    ]
    assert _events(database, ok) == ["queued", "sending", "sent"]
    assert _events(database, suppressed) == ["queued", "sending", "suppressed"]
    assert _events(database, flaky) == ["queued", "sending", "queued"]
    assert _events(database, later) == ["queued"]
    with database.transaction() as session:
        sent = session.get(Message, ok)
        retried = session.get(Message, flaky)
        assert sent is not None and retried is not None
        assert sent.subject == "News for P0" and sent.provider == "recording"
        assert sent.provider_message_id == f"rec-{ok}" and sent.sent_at is not None
        assert sent.from_address == "Acme <shop@acme.example>"
        assert retried.status == "queued" and retried.error == "451 try again later"
        assert retried.send_after is not None and retried.send_after > utcnow()
    # Every message in the batch went out with its own identity and MIME.
    assert len({c.message_id for c in provider.calls}) == 3
    assert all(f"X-Herald-Message-Id: {c.message_id}".encode() in c.mime for c in provider.calls)

    # The same kick again: nothing is sent twice.
    provider.calls.clear()
    again = sending.send_messages(database, ids)
    assert provider.calls == []
    assert again[ok] == "done" and again[flaky] == "not-claimed"


def test_two_workers_given_the_same_batch_send_each_message_once(
    database: Database, provider: Recording
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 30)
    ids = _queue(database, org_id, template_id, profiles)
    start = threading.Barrier(3)
    results: list[dict[uuid.UUID, str]] = []

    def work(batch: list[uuid.UUID]) -> None:
        start.wait()
        results.append(sending.send_messages(database, batch))

    threads = [
        threading.Thread(target=work, args=(ids,)),
        threading.Thread(target=work, args=(list(reversed(ids)),)),
        threading.Thread(target=work, args=(ids[10:20],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(c.message_id for c in provider.calls) == sorted(ids)
    assert set(_statuses(database, ids).values()) == {"sent"}
    assert sum(1 for r in results for o in r.values() if o == "sent") == len(ids)
    with database.transaction() as session:
        sent_events = session.scalar(
            sa.select(sa.func.count())
            .select_from(MessageEvent)
            .where(MessageEvent.message_id.in_(ids), MessageEvent.kind == "sent")
        )
    assert sent_events == len(ids)


def test_a_message_taken_over_while_its_batch_was_sending_is_recorded_by_its_new_worker_only(
    database: Database, provider: Recording
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 3)
    ids = _queue(database, org_id, template_id, profiles)

    def take_over(email: OutgoingEmail) -> None:
        # The sweep thought this worker dead and another worker claimed the second message.
        if email.message_id == ids[1]:
            with database.transaction() as session:
                session.execute(
                    sa.update(Message)
                    .where(Message.id == ids[1])
                    .values(attempts=Message.attempts + 1)
                )

    provider.during = take_over
    outcomes = sending.send_messages(database, ids)
    assert outcomes == {ids[0]: "sent", ids[1]: "superseded", ids[2]: "sent"}
    assert _statuses(database, ids)[ids[1]] == "sending"  # the other worker's to record
    assert "sent" not in _events(database, ids[1])


class SenderDied(BaseException):
    """A sender process killed mid-batch: nothing after it runs, not even `except Exception`."""


def test_messages_a_dead_sender_handed_over_are_recorded_by_the_next_claim_not_sent_again(
    database: Database, provider: Recording
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 3)
    ids = _queue(database, org_id, template_id, profiles)

    def die_at_the_third(email: OutgoingEmail) -> None:
        if email.message_id == ids[2]:
            raise SenderDied

    provider.during = die_at_the_third
    with pytest.raises(SenderDied):
        sending.send_messages(database, ids)
    assert set(_statuses(database, ids).values()) == {"sending"}  # nothing recorded

    # Later, as far as the dead sender's claims are concerned: another worker takes them over.
    provider.during = None
    with database.transaction() as session:
        session.execute(
            sa.update(Message)
            .where(Message.id.in_(ids))
            .values(heartbeat_at=utcnow() - email_batch.STALE_AFTER - timedelta(minutes=1))
        )
    assert set(sending.send_messages(database, ids).values()) == {"sent"}
    # The provider took the first two under the dead claim; they are not handed over again.
    assert sorted(str(e.message_id) for e in provider.calls) == sorted(str(i) for i in ids)
    assert [_events(database, i).count("sent") for i in ids] == [1, 1, 1]


def test_a_long_batch_records_what_it_has_sent_as_it_goes(
    database: Database, provider: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sending, "RECORD_EVERY", timedelta(0))
    org_id, template_id, profiles = _org_with_audience(database, 4)
    ids = _queue(database, org_id, template_id, profiles)
    seen: list[dict[uuid.UUID, str]] = []
    provider.during = lambda _email: seen.append(_statuses(database, ids))
    assert set(sending.send_messages(database, ids).values()) == {"sent"}
    # Before the last message was handed over, the ones before it were recorded sent.
    assert [s[ids[0]] for s in seen] == ["sending", "sent", "sent", "sent"]
    assert [s[ids[2]] for s in seen] == ["sending", "sending", "sending", "sent"]


def test_the_heartbeats_cover_a_whole_batch_while_it_is_handed_over(
    database: Database, provider: Recording
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 3)
    ids = _queue(database, org_id, template_id, profiles)
    beating: list[set[uuid.UUID]] = []
    provider.during = lambda _email: beating.append(set(heartbeats._heartbeats._beating))
    sending.send_messages(database, ids)
    assert beating[0] >= set(ids)
    assert not set(heartbeats._heartbeats._beating) & set(ids)


def test_a_send_gate_is_asked_once_for_a_batch_of_one_source(
    database: Database, provider: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[uuid.UUID | None] = []
    verdict = ["hold"]

    def gate(_session: Any, message: Message) -> gates.SendVerdict:
        asked.append(message.source_id)
        return verdict[0]  # type: ignore[return-value]

    monkeypatch.setitem(gates._send_gates, "flow", gate)
    org_id, template_id, profiles = _org_with_audience(database, 4)
    flow_step = uuid.uuid4()
    ids = _queue(database, org_id, template_id, profiles, source="flow", source_id=flow_step)
    assert set(sending.send_messages(database, ids).values()) == {"held"}
    assert asked == [flow_step]
    with database.transaction() as session:
        held = list(session.scalars(sa.select(Message).where(Message.id.in_(ids))))
    assert {(m.status, m.attempts) for m in held} == {("queued", 0)}
    assert all(m.send_after is not None and m.send_after > utcnow() for m in held)
    assert provider.calls == []

    verdict[0] = "skip"
    with database.transaction() as session:
        session.execute(sa.update(Message).where(Message.id.in_(ids)).values(send_after=None))
    assert set(sending.send_messages(database, ids).values()) == {"skipped"}
    assert len(asked) == 2 and provider.calls == []


# --- Queueing in bulk ---------------------------------------------------------------------------


def test_queue_emails_records_a_batch_and_says_why_each_refused_one_got_nothing(
    database: Database,
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 4)
    other_org, other_template, _ = _org_with_audience(database, 1)
    with database.transaction() as session:
        no_address = Profile(org_id=org_id, first_name="Nobody")
        session.add(no_address)
        session.flush()
        # profiles[3] was merged into profiles[2].
        session.execute(
            sa.update(Profile)
            .where(Profile.id == profiles[3].id)
            .values(merged_into_id=profiles[2].id)
        )
    with database.transaction() as session:
        used = messages.queue_emails(
            session,
            org_id,
            [messages.EmailRequest("used", to_profile_id=profiles[0].id, template_id=template_id)],
            source="campaign",
            marketing=True,
        )[0]
    assert isinstance(used, messages.QueuedEmail) and used.created

    request = messages.EmailRequest
    with database.transaction() as session:
        outcomes = messages.queue_emails(
            session,
            org_id,
            [
                request(
                    "a",
                    to_profile_id=profiles[1].id,
                    template_id=template_id,
                    overrides={"subject": "Hello {{ profile.first_name }}"},
                ),
                request("used", to_profile_id=profiles[1].id, template_id=template_id),
                request("b", to_profile_id=new_id(), template_id=template_id),
                request("c", to_profile_id=no_address.id, template_id=template_id),
                request("d", to_profile_id=profiles[1].id, template_id=other_template),
                request("e", to_profile_id=profiles[3].id, template_id=template_id),
                request("f", to_address="P0@Example.com", raw=messages.RawContent("s", "<p>h</p>")),
                request("a", to_profile_id=profiles[1].id, template_id=template_id),
                request("used", to_profile_id=new_id(), template_id=template_id),
                request("g", to_profile_id=profiles[1].id),
                request("", to_profile_id=profiles[1].id, template_id=template_id),
            ],
            source="campaign",
            source_id=uuid.uuid4(),
            marketing=True,
        )
    a, again_used, b, c, d, e, f, a_twice, used_refused, g, empty = outcomes
    assert isinstance(a, messages.QueuedEmail) and a.created and a.status == "queued"
    assert again_used == messages.QueuedEmail(used.message_id, "queued", None, created=False)
    assert isinstance(b, NotFound) and b.message == "profile not found"
    assert isinstance(c, InvalidInput)
    assert c.message == "to.profile_id: this profile has no email address"
    assert isinstance(d, InvalidInput) and d.message == "template_id: no such template"
    assert isinstance(a_twice, messages.QueuedEmail)
    assert a_twice.message_id == a.message_id and not a_twice.created
    # A key used before gives its message, even to a request that would be refused now.
    assert used_refused == again_used
    assert isinstance(g, InvalidInput) and isinstance(empty, InvalidInput)
    with database.transaction() as session:
        merged = session.get(Message, e.message_id)  # type: ignore[union-attr]
        linked = session.get(Message, f.message_id)  # type: ignore[union-attr]
        first = session.get(Message, a.message_id)
        assert merged is not None and linked is not None and first is not None
        assert merged.profile_id == profiles[2].id and merged.to_address == "p2@example.com"
        assert linked.profile_id == profiles[0].id and linked.to_address == "p0@example.com"
        assert linked.content["subject"] == "s" and linked.template_id is None
        assert first.content == {"data": {}, "subject": "Hello {{ profile.first_name }}"}
        assert first.source == "campaign" and first.marketing is True
        queued_events = session.scalar(
            sa.select(sa.func.count())
            .select_from(MessageEvent)
            .where(MessageEvent.org_id == org_id, MessageEvent.kind == "queued")
        )
    assert queued_events == 4  # used, a, e, f: one each, none for a key used again
    assert other_org != org_id


def test_kicks_go_in_batches_and_scheduled_ones_at_their_time(
    database: Database, backend: Backend
) -> None:
    use_real_queue(backend)
    later = utcnow() + timedelta(hours=2)
    now_ids = [new_id() for _ in range(2 * email_batch.BATCH_SIZE + 1)]
    later_ids = [new_id(), new_id()]
    with database.transaction() as session:
        messages.kick_sends(session, [(i, None) for i in now_ids] + [(i, later) for i in later_ids])
    kicks = [(tuple(task.args), task.eta) for task in huey.pending()]
    now_kicks = [args for args, eta in kicks if eta is None]
    assert [len(args) for args in now_kicks] == [email_batch.BATCH_SIZE, email_batch.BATCH_SIZE, 1]
    assert [a for args in now_kicks for a in args] == [str(i) for i in now_ids]
    # Huey keeps times naive, in UTC.
    assert [(args, eta) for args, eta in kicks if eta is not None] == [
        (tuple(str(i) for i in later_ids), later.replace(tzinfo=None))
    ]
    assert {name for name, _args in queued()} == {"herald.email.send"}


# --- The ledger's batch writes ------------------------------------------------------------------


def test_bulk_writes_on_either_database(database: Database) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 3)
    ids = _queue(database, org_id, template_id, profiles)
    now = utcnow()
    with database.transaction() as session:
        ledger.add_events(
            session,
            "opened",
            [(org_id, ids[0], {"n": 1}), (org_id, ids[1], {"n": 1}), (org_id, ids[2], {})],
            at=now,
        )
        ledger.bulk_update(
            session,
            Message,
            [
                {"id": ids[0], "subject": "one", "error": None, "attempts": 3},
                {"id": ids[1], "subject": "two", "error": None, "attempts": 3},
            ],
        )
        ledger.bulk_update(session, Message, [{"id": ids[2], "subject": None, "error": "x"}])
        inserted = ledger.bulk_insert(
            session,
            Message,
            [
                {
                    "id": new_id(),
                    "org_id": org_id,
                    "profile_id": None,
                    "channel": "email",
                    "source": "transactional",
                    "source_id": None,
                    "marketing": False,
                    "idempotency_key": key,
                    "template_id": None,
                    "to_address": "x@example.com",
                    "content": {"data": {"k": key}},
                    "status": "queued",
                    "attempts": 0,
                    "send_after": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for key in ("k1", "k2")
            ],
            skip_conflicts=("org_id", "idempotency_key"),
            returning="idempotency_key",
        )
    assert sorted(inserted) == ["k1", "k2"]
    with database.transaction() as session:
        rows = {
            m.id: m for m in session.scalars(sa.select(Message).where(Message.org_id == org_id))
        }
        opened = dict(
            session.execute(
                sa.select(MessageEvent.message_id, MessageEvent.data).where(
                    MessageEvent.kind == "opened"
                )
            ).all()
        )
    assert (rows[ids[0]].subject, rows[ids[0]].attempts) == ("one", 3)
    assert (rows[ids[1]].subject, rows[ids[2]].subject, rows[ids[2]].error) == ("two", None, "x")
    assert opened == {ids[0]: {"n": 1}, ids[1]: {"n": 1}, ids[2]: {}}
    assert {m.content["data"].get("k") for m in rows.values()} >= {"k1", "k2"}


# --- MIME parts ---------------------------------------------------------------------------------


def _mime(text: str, html: str = "<p>Hi</p>") -> bytes:
    return mime.build_message(
        mime.MimeParts(
            message_id=uuid.uuid4(),
            from_email="shop@acme.example",
            to_email="ada@example.org",
            subject="Hi",
            html=html,
            text=text,
        )
    )


def test_parts_go_as_they_are_when_they_can_and_in_base64_otherwise() -> None:
    plain = "Hi Ada,\r\n\r\n.A line that starts with a dot\nThe end"
    raw = _mime(plain, html="<p>" + "x" * 5000 + "</p>")
    parsed = mime.parse(raw)
    assert raw.count(b"Content-Transfer-Encoding: 7bit") == 1
    assert raw.count(b"Content-Transfer-Encoding: base64") == 1  # the one-line HTML
    assert parsed.text is not None and parsed.text.replace("\r\n", "\n") == plain.replace(
        "\r\n", "\n"
    )
    assert parsed.html == "<p>" + "x" * 5000 + "</p>"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    unicode = mime.parse(_mime("Grüße"))
    assert unicode.text == "Grüße"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1100), max_size=12))
def test_short_lines_is_right_about_every_text(lengths: list[int]) -> None:
    text = "\n".join("x" * n for n in lengths)
    assert mime._short_lines(text) == all(n <= 998 for n in lengths)


# --- The SMTP client ----------------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[tuple[Server, Handler]]:
    handler = Handler()
    for server in serve(handler, auth_require_tls=False):
        yield server, handler


def test_lines_starting_with_a_dot_arrive_as_they_were_written(
    sink: tuple[Server, Handler],
) -> None:
    server, handler = sink
    pool = ConnectionPool()
    try:
        text = ".first\n..second\nmiddle .\n.\nlast"
        message = outgoing(text=text, html="<p>.</p>")
        SmtpProvider(config(server), pool).send(message)
    finally:
        pool.close_all()
    (received,) = handler.received
    assert received.content.replace(b"\r\n", b"\n") == message.mime.replace(b"\r\n", b"\n")
    parsed = mime.parse(received.content)
    assert parsed.text is not None and parsed.text.replace("\r\n", "\n") == text


@given(st.emails())
def test_addresses_are_quoted_as_smtplib_would(address: str) -> None:
    assert _quote(address) == smtplib.quoteaddr(address)


# --- A campaign's fan-out ---------------------------------------------------------------------


def test_fan_out_queues_a_batch_and_skips_recipients_who_cannot_get_one(
    database: Database, backend: Backend
) -> None:
    org_id, template_id, profiles = _org_with_audience(database, 5)
    with database.transaction() as session:
        segment = Segment(org_id=org_id, name="All", definition={"conditions": []})
        session.add(segment)
        session.flush()
        session.add_all(
            SegmentMember(segment_id=segment.id, profile_id=p.id, org_id=org_id) for p in profiles
        )
        campaign = campaigns.create_campaign(
            session,
            org_id,
            {
                "name": "Spring",
                "template_id": template_id,
                "subject": "Spring for {{ profile.first_name }}",
                "include_segment_ids": [segment.id],
                "smart_sending": False,
            },
        )
    use_real_queue(backend)
    with database.transaction() as session:
        lifecycle.send_now(session, org_id, campaign.id)
    drain()  # the audience snapshot
    with database.transaction() as session:
        # Since the snapshot: one person lost their address, another was deleted.
        session.execute(sa.update(Profile).where(Profile.id == profiles[1].id).values(email=None))
        session.execute(sa.delete(Profile).where(Profile.id == profiles[2].id))

    assert fanout.fan_out(database, campaign.id) == 5
    with database.transaction() as session:
        recipients = {
            r.profile_id: r
            for r in session.scalars(
                sa.select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
            )
        }
        queued_messages = list(
            session.scalars(sa.select(Message).where(Message.source_id == campaign.id))
        )
    assert {p: (r.status, r.skip_reason) for p, r in recipients.items()} == {
        profiles[0].id: ("queued", None),
        profiles[1].id: ("skipped", "to.profile_id: this profile has no email address"),
        profiles[2].id: ("skipped", "profile not found"),
        profiles[3].id: ("queued", None),
        profiles[4].id: ("queued", None),
    }
    assert {m.id for m in queued_messages} == {
        r.message_id for r in recipients.values() if r.status == "queued"
    }
    assert {m.content["subject"] for m in queued_messages} == {
        "Spring for {{ profile.first_name }}"
    }
    # One kick for the batch, naming each queued message.
    (kick,) = queued()
    assert sorted(kick[1]) == sorted(str(m.id) for m in queued_messages)


# --- DKIM -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key() -> mime.DkimKey:
    """A key as `openssl genrsa` writes it, stored as Herald stores a key saved in settings."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    openssl = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
    pem = mime.check_dkim_key(openssl.decode())
    return mime.DkimKey(domain="acme.example", selector="s1", private_key_pem=pem)


def _verifies(raw: bytes, key: mime.DkimKey) -> bool:
    record = mime.dkim_dns_value(key.private_key_pem).encode()

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"s1._domainkey.acme.example." else None

    return bool(dkim.verify(raw, dnsfunc=dns))


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab .\t\r\nü"), max_size=300),
    html=st.text(alphabet=st.sampled_from("<p> \t\n=x"), max_size=1500),
    subject=st.text(alphabet=st.sampled_from("Sub jectü\t"), min_size=1, max_size=200),
)
def test_dkim_signatures_verify_whatever_the_message(
    dkim_key: mime.DkimKey, text: str, html: str, subject: str
) -> None:
    parts = mime.MimeParts(
        message_id=uuid.uuid4(),
        from_email="news@acme.example",
        from_name='Acme Outdoor, "the" shop',
        to_email="ada@example.org",
        to_name="Ada Lovelace",
        reply_to="help@acme.example",
        subject=" ".join(subject.split()) or "x",
        html=html,
        text=text,
        headers={
            "List-Unsubscribe": "<https://mail.acme.example/u/" + "t" * 90 + ">",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    assert _verifies(mime.render_mime(parts, dkim_key), dkim_key)


def test_a_dkim_signature_covers_the_listed_headers_and_their_absence(
    dkim_key: mime.DkimKey,
) -> None:
    raw = _mime("Hi Ada")
    signed = mime.sign(raw, dkim_key)
    assert _verifies(signed, dkim_key)
    head = signed.split(b"\r\n\r\n", 1)[0].decode()
    assert "c=relaxed/relaxed" in head and "a=rsa-sha256" in head
    assert "h=from : to : subject : date : message-id : reply-to : list-unsubscribe" in head
    # A header that was absent cannot be added afterwards; a changed one breaks it too.
    added = signed.replace(
        b"\r\nSubject:", b"\r\nList-Unsubscribe: <https://evil.example>\r\nSubject:"
    )
    assert not _verifies(added, dkim_key)
    assert not _verifies(signed.replace(b"Subject: Hi", b"Subject: Ho"), dkim_key)
    assert not _verifies(signed.replace(b"Hi Ada", b"Hi Eve"), dkim_key)
