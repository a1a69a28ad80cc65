"""SES, SendGrid and Postmark adapters against servers on loopback that speak their protocols
(moto's server for SES's successful sends, in-repo fakes where faults are injected): batching,
each message's own provider id, and the three kinds of failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from herald.email.providers import build_provider
from herald.email.providers.base import (
    OutgoingEmail,
    PermanentSendError,
    ProviderUnavailable,
    SendResult,
    TransientSendError,
    send_many,
)
from herald.outbound import allow_networks
from tests.fakes.faults import Fault
from tests.fakes.http import FakeServer
from tests.fakes.postmark import SERVER_TOKEN, FakePostmark
from tests.fakes.sendgrid import API_KEY, FakeSendGrid
from tests.fakes.ses import FakeSes

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with allow_networks("127.0.0.0/8"):
        yield


def outgoing(to: str, subject: str = "Hello", body: str = "Hi there") -> OutgoingEmail:
    message_id = uuid.uuid4()
    mime = (
        f"From: Acme <shop@acme.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Reply-To: help@acme.example\r\nMessage-ID: <{message_id}@acme.example>\r\n"
        "List-Unsubscribe: <https://herald.example/u/x>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{body}</p>\r\n--b--\r\n"
    ).encode()
    return OutgoingEmail(
        message_id=message_id,
        org_id=uuid.uuid4(),
        idempotency_key=f"test:{message_id}",
        envelope_from="shop@acme.example",
        envelope_to=[to],
        mime=mime,
    )


def config_for(kind: str, server: FakeServer, **extra: object) -> dict[str, object]:
    if kind == "sendgrid":
        return {"api_key": API_KEY, "endpoint_url": server.url, **extra}
    if kind == "postmark":
        return {"server_token": SERVER_TOKEN, "endpoint_url": server.url, **extra}
    return {
        "region": "eu-west-1",
        "access_key_id": ACCESS_KEY,
        "secret_access_key": "secret",
        "endpoint_url": server.url,
        **extra,
    }


def fake_for(kind: str) -> FakeSendGrid | FakePostmark | FakeSes:
    return {"sendgrid": FakeSendGrid, "postmark": FakePostmark, "ses": FakeSes}[kind]()


KINDS = ("ses", "sendgrid", "postmark")


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_goes_through_and_each_message_keeps_its_own_id(kind: str) -> None:
    with fake_for(kind) as fake:
        provider = build_provider(kind, config_for(kind, fake))
        # Each rendered for its recipient: bodies of their own.
        emails = [outgoing(f"p{i}@example.com", f"Subject {i}", f"Hi P{i}") for i in range(12)]
        outcomes = send_many(provider, emails)
        assert all(isinstance(o, SendResult) for o in outcomes)
        ids = [o.provider_message_id for o in outcomes if isinstance(o, SendResult)]
        assert len(set(ids)) == 12
        accepted = {a.provider_message_id: a for a in fake.state.accepted}
        for email, provider_id in zip(emails, ids, strict=True):
            # The provider's id names the message it took, which carries Herald's id along.
            assert accepted[provider_id].to == email.envelope_to[0]
            assert accepted[provider_id].herald_message_id == str(email.message_id)
        if kind == "postmark":
            assert fake.batches == [12] and fake.calls == 1  # one call for the batch
        else:
            assert fake.calls == 12


def test_sendgrid_sends_messages_with_one_body_as_personalizations_of_one_request() -> None:
    with FakeSendGrid() as fake:
        provider = build_provider("sendgrid", config_for("sendgrid", fake))
        same = [outgoing(f"p{i}@example.com", f"Subject {i}") for i in range(7)]
        own = [outgoing("solo@example.com", "Solo", "Only for you")]
        outcomes = send_many(provider, [*same[:3], *own, *same[3:]])
        assert all(isinstance(o, SendResult) for o in outcomes)
        assert sorted(fake.requests) == [1, 7] and fake.calls == 2
        # Each message is its own personalization: its recipient, subject and Herald id.
        taken = {a.herald_message_id: a for a in fake.state.accepted}
        for email, outcome in zip([*same[:3], *own, *same[3:]], outcomes, strict=True):
            got = taken[str(email.message_id)]
            assert got.to == email.envelope_to[0]
            assert isinstance(outcome, SendResult)
            assert got.provider_message_id == outcome.provider_message_id
        assert [taken[str(e.message_id)].subject for e in same] == [
            f"Subject {i}" for i in range(7)
        ]
        # The request's X-Message-Id names the seven messages it carried.
        assert len({o.provider_message_id for o in outcomes if isinstance(o, SendResult)}) == 2


def test_a_sendgrid_request_refused_for_one_address_fails_only_that_message() -> None:
    with FakeSendGrid() as fake:
        fake.state.invalid = {"gone@example.com", "lost@example.com"}
        provider = build_provider("sendgrid", config_for("sendgrid", fake))
        addresses = ["a@example.com", "gone@example.com", "b@example.com", "lost@example.com"]
        emails = [outgoing(a) for a in [*addresses, "c@example.com"]]
        outcomes = send_many(provider, emails)
        assert [type(o).__name__ for o in outcomes] == [
            "SendResult",
            "PermanentSendError",
            "SendResult",
            "PermanentSendError",
            "SendResult",
        ]
        refused = [o for o in outcomes if isinstance(o, PermanentSendError)]
        assert all(o.suppress and "to.0.email" in str(o) for o in refused)
        # The refused request took nothing; the three others went in one more.
        assert fake.calls == 2 and fake.requests == [3]
        assert sorted(fake.state.recipients()) == [
            "a@example.com",
            "b@example.com",
            "c@example.com",
        ]


CLASSIFICATION: list[tuple[Fault, type[Exception]]] = [
    ("throttle", TransientSendError),
    ("5xx", TransientSendError),
    ("suspended", ProviderUnavailable),
    ("unauthorized", ProviderUnavailable),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("fault", "kind_of_error"), CLASSIFICATION)
def test_error_answers_are_classified(
    kind: str, fault: Fault, kind_of_error: type[Exception]
) -> None:
    with fake_for(kind) as fake:
        fake.state.fault = fault
        provider = build_provider(kind, config_for(kind, fake))
        [outcome] = send_many(provider, [outgoing("ada@example.com")])
        assert type(outcome) is kind_of_error, outcome
        if isinstance(outcome, TransientSendError):
            # An answer came: the provider did not take the message, another one may.
            assert not outcome.maybe_sent
        assert fake.state.accepted == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_invalid_address_fails_only_its_message_and_asks_for_suppression(kind: str) -> None:
    with fake_for(kind) as fake:
        fake.state.invalid = {"gone@example.com"}
        provider = build_provider(kind, config_for(kind, fake))
        outcomes = send_many(provider, [outgoing("ok@example.com"), outgoing("gone@example.com")])
        assert isinstance(outcomes[0], SendResult)
        assert isinstance(outcomes[1], PermanentSendError) and outcomes[1].suppress
        assert fake.state.recipients() == ["ok@example.com"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_accepted_message_is_reported_once_as_its_call_returns(kind: str) -> None:
    """The hand-off journal hears of each message the provider took, once, in the sending
    thread, with that message's own answer; a refused one is not reported."""
    import threading

    with fake_for(kind) as fake:
        fake.state.invalid = {"gone@example.com"}
        provider = build_provider(kind, config_for(kind, fake))
        emails = [outgoing(f"p{i}@example.com", f"Subject {i}", f"Hi P{i}") for i in range(10)]
        emails.insert(4, outgoing("gone@example.com"))
        reported: list[tuple[int, SendResult, threading.Thread]] = []
        outcomes = send_many(
            provider,
            emails,
            lambda index, result: reported.append((index, result, threading.current_thread())),
        )
        assert sorted(index for index, _result, _thread in reported) == [
            i for i in range(11) if i != 4
        ]
        assert all(outcomes[index] == result for index, result, _thread in reported)
        assert {thread for _index, _result, thread in reported} == {threading.current_thread()}
        assert isinstance(outcomes[4], PermanentSendError)


@pytest.mark.parametrize("kind", KINDS)
def test_a_call_that_times_out_after_sending_may_have_been_taken(kind: str) -> None:
    with fake_for(kind) as fake:
        fake.state.fault = "hang"
        fake.state.hang_seconds = 1.5
        provider = build_provider(kind, config_for(kind, fake, timeout=0.3))
        [outcome] = send_many(provider, [outgoing("ada@example.com")])
        assert isinstance(outcome, TransientSendError) and outcome.maybe_sent


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_that_cannot_be_reached_took_nothing(kind: str) -> None:
    with fake_for(kind) as fake:
        url = fake.url
    config = config_for(kind, fake)
    config["endpoint_url"] = url  # the server is gone
    [outcome] = send_many(build_provider(kind, config), [outgoing("ada@example.com")])
    assert isinstance(outcome, TransientSendError) and not outcome.maybe_sent


@pytest.mark.parametrize("kind", KINDS)
def test_check_connection(kind: str) -> None:
    with fake_for(kind) as fake:
        good = build_provider(kind, config_for(kind, fake))
        assert good.check()  # type: ignore[attr-defined]
        wrong = config_for(kind, fake)
        key = {"ses": "access_key_id", "sendgrid": "api_key", "postmark": "server_token"}[kind]
        wrong[key] = "AKIAWRONGWRONGWRONG" if kind == "ses" else "wrong"
        if kind == "ses":
            fake.state.fault = "unauthorized"  # the fake cannot check a signature's key
            with pytest.raises(ProviderUnavailable):
                build_provider(kind, wrong).send(outgoing("ada@example.com"))
        else:
            with pytest.raises(ProviderUnavailable):
                build_provider(kind, wrong).check()  # type: ignore[attr-defined]


def test_a_private_endpoint_is_refused_at_connect_time() -> None:
    provider = build_provider("sendgrid", {"api_key": API_KEY, "endpoint_url": "http://10.0.0.1"})
    [outcome] = send_many(provider, [outgoing("ada@example.com")])
    assert isinstance(outcome, ProviderUnavailable) and "private" in str(outcome)


# --- SES against moto's server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_ses_sends_raw_mime_signed_by_botocore_to_moto(moto_url: str) -> None:
    import boto3

    region = "eu-west-1"
    ses = boto3.client(
        "sesv2",
        endpoint_url=moto_url,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="secret",
    )
    ses.create_email_identity(EmailIdentity="acme.example")
    config = {
        "region": region,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": "secret",
        "endpoint_url": moto_url,
    }
    provider = build_provider("ses", config)
    emails = [outgoing(f"p{i}@example.com") for i in range(3)]
    outcomes = send_many(provider, emails)
    assert all(isinstance(o, SendResult) for o in outcomes), outcomes
    assert "acme.example is" in provider.check("acme.example")  # type: ignore[attr-defined]
    with pytest.raises(ProviderUnavailable, match="not an identity"):
        provider.check("other.example")  # type: ignore[attr-defined]
    # moto kept each message as Herald wrote it, byte for byte (base64 over the API).
    data = httpx.get(f"{moto_url}/moto-api/data.json").json()
    taken = {m["id"]: m["raw_data"] for m in data["ses"]["RawMessage"]}
    for email, outcome in zip(emails, outcomes, strict=True):
        assert isinstance(outcome, SendResult)
        assert taken[outcome.provider_message_id].encode() == email.mime


def test_the_fields_sent_are_those_of_the_mime_whether_parsed_or_given() -> None:
    from dataclasses import replace

    from herald.email import mime
    from herald.email.providers.api import json_email

    parts = mime.MimeParts(
        message_id=uuid.uuid4(),
        from_email="news@acme.example",
        from_name="Acme News",
        to_email="ada@example.com",
        subject="Winter sale — 20% off",
        html="<p>Hello Ada</p>",
        text="Hello Ada",
        reply_to="help@acme.example",
        headers={"List-Unsubscribe": "<https://herald.example/u/x>"},
    )
    email = replace(outgoing("ada@example.com"), mime=mime.render_mime(parts))
    parsed, given = json_email(email), json_email(replace(email, parts=parts))
    assert (given.from_, given.to, given.subject, given.reply_to) == (
        parsed.from_,
        parsed.to,
        parsed.subject,
        parsed.reply_to,
    )
    assert (given.html, given.text) == (parsed.html.strip(), parsed.text.strip())  # type: ignore[union-attr]
    assert sorted(given.headers) == sorted(parsed.headers)
