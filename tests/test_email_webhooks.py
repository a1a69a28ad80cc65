"""Provider feedback webhooks: SNS signatures (versions 1 and 2, certificate URL, topic,
subscription confirmation), SendGrid's ECDSA signature and timestamp, Postmark's basic auth;
each with bad, missing, replayed and valid credentials; deduplication, monotonic statuses and
suppression."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from herald.db import Database
from herald.email.feedback.sns import allow_certificate_hosts
from herald.models import MessageEvent, Suppression
from herald.outbound import allow_networks
from tests.factories import OrgFixture, make_org
from tests.fakes.http import Answer, FakeServer, Request
from tests.fakes.postmark import FakePostmark
from tests.fakes.sendgrid import FakeSendGrid
from tests.fakes.ses import FakeSes
from tests.test_email_failover import add_postmark, add_provider, add_sendgrid, send_one, settings

TOPIC = "arn:aws:sns:eu-west-1:123456789012:herald-feedback"


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with allow_networks("127.0.0.0/8"):
        yield


def suppressions(database: Database) -> dict[str, str]:
    with database.transaction() as session:
        return {s.address: s.reason for s in session.scalars(sa.select(Suppression))}


def events(database: Database, kind: str) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(MessageEvent)
                .where(MessageEvent.kind == kind)
            )
            or 0
        )


def status_of(client: TestClient, org: OrgFixture, message_id: str) -> str:
    response = client.get(f"/api/messages/{message_id}", headers=org.secret_headers)
    return str(response.json()["status"])


# --- SES through SNS ----------


class SnsSigner:
    """A certificate of our own, served like SNS serves its signing certificates."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.confirmations: list[str] = []
        self.server = FakeServer(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.path == "/SimpleNotificationService.pem":
            return Answer(200, self.certificate.public_bytes(serialization.Encoding.PEM))
        if request.path.startswith("/confirm"):
            self.confirmations.append(request.path)
            return Answer(200, b"<ConfirmSubscriptionResponse/>")
        return Answer(404)

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        """The fields AWS documents, in order, each as "name\\nvalue\\n"."""
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn"]
            names.append("Type")
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text, padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": f"{self.server.url}/SimpleNotificationService.pem",
        }


@pytest.fixture
def signer() -> Iterator[SnsSigner]:
    signer = SnsSigner()
    with signer.server, allow_certificate_hosts(signer.server.url.split("://", 1)[1]):
        yield signer


@pytest.fixture
def ses() -> Iterator[FakeSes]:
    with FakeSes() as fake:
        yield fake


def ses_setup(client: TestClient, ses: FakeSes) -> tuple[OrgFixture, str, str]:
    org = make_org()
    settings(client, org)
    config = {
        "region": "eu-west-1",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "secret",
        "endpoint_url": ses.url,
        "sns_topic_arns": [TOPIC],
    }
    provider = add_provider(client, org, kind="ses", label="SES", config=config)
    message = send_one(client, org, "ada@example.com")
    assert message["status"] == "sent", message
    return org, provider["id"], message["id"]


def bounce(herald_id: str, bounce_type: str = "Permanent") -> dict[str, Any]:
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bouncedRecipients": [{"emailAddress": "ada@example.com"}],
        },
        "mail": {"messageId": "0100-ses", "tags": {"herald_message_id": [herald_id]}},
    }
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(event),
        "Timestamp": datetime.now(UTC).isoformat(),
    }


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_bounce_suppresses_and_a_replay_changes_nothing(
    client: TestClient, database: Database, ses: FakeSes, signer: SnsSigner, version: str
) -> None:
    org, provider_id, message_id = ses_setup(client, ses)
    signed = signer.sign(bounce(message_id), version)
    for _ in range(2):  # SNS delivers at least once: the second is the same MessageId
        response = client.post(f"/webhooks/ses/{provider_id}", content=json.dumps(signed))
        assert response.status_code == 204, response.text
    assert status_of(client, org, message_id) == "bounced"
    assert suppressions(database) == {"ada@example.com": "hard_bounce"}
    assert events(database, "bounced") == 1


def test_ses_notifications_that_are_not_genuine_are_refused(
    client: TestClient, database: Database, ses: FakeSes, signer: SnsSigner
) -> None:
    org, provider_id, message_id = ses_setup(client, ses)
    url = f"/webhooks/ses/{provider_id}"
    genuine = signer.sign(bounce(message_id))
    tampered = {**genuine, "Message": genuine["Message"].replace("Permanent", "Transient")}
    unsigned = {k: v for k, v in genuine.items() if k != "Signature"}
    other_topic = signer.sign({**bounce(message_id), "TopicArn": TOPIC + "-other"})
    not_aws = {**genuine, "SigningCertURL": "https://sns.eu-west-1.evil.example/cert.pem"}
    plain_http = {
        **genuine,
        "SigningCertURL": "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
    }
    version_3 = {**genuine, "SignatureVersion": "3"}
    for body, code in [
        (tampered, 403),
        (unsigned, 401),
        (other_topic, 403),
        (not_aws, 403),
        (plain_http, 403),
        (version_3, 403),
    ]:
        response = client.post(url, content=json.dumps(body))
        assert response.status_code == code, (body, response.text)
        assert response.json()["error"]["code"] in ("forbidden", "not_authenticated")
    assert client.post(url, content=b"not json").status_code == 403
    assert status_of(client, org, message_id) == "sent" and suppressions(database) == {}
    # Another organization's provider id is not this one's webhook.
    assert (
        client.post(f"/webhooks/ses/{uuid.uuid4()}", content=json.dumps(genuine)).status_code == 404
    )


def test_a_subscription_is_confirmed_only_when_verified_and_on_an_aws_host(
    client: TestClient, ses: FakeSes, signer: SnsSigner
) -> None:
    _org, provider_id, _message_id = ses_setup(client, ses)
    url = f"/webhooks/ses/{provider_id}"
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "token-1",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": f"{signer.server.url}/confirm?Token=token-1",
        "Timestamp": datetime.now(UTC).isoformat(),
    }
    forged = {**signer.sign(confirmation), "Token": "token-2"}
    assert client.post(url, content=json.dumps(forged)).status_code == 403
    elsewhere = signer.sign({**confirmation, "SubscribeURL": "https://attacker.example/confirm"})
    assert client.post(url, content=json.dumps(elsewhere)).status_code == 403
    assert signer.confirmations == []
    assert client.post(url, content=json.dumps(signer.sign(confirmation))).status_code == 204
    assert signer.confirmations == ["/confirm?Token=token-1"]


# --- SendGrid ----------


class SendGridSigner:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        when = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(when.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": when,
        }


def sendgrid_event(message: dict[str, Any], event: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": message["to_address"],
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": extra.pop("sg_event_id", str(uuid.uuid4())),
        "sg_message_id": f"{message['provider_message_id']}.filter0001",
        "herald_message_id": message["id"],
        **extra,
    }


def test_sendgrid_events_need_a_fresh_valid_signature(
    client: TestClient, database: Database
) -> None:
    signer = SendGridSigner()
    org = make_org()
    settings(client, org)
    with FakeSendGrid() as fake:
        provider = add_sendgrid(client, org, fake, config={"webhook_public_key": signer.public_key})
        message = send_one(client, org, "ada@example.com")
    url = f"/webhooks/sendgrid/{provider['id']}"
    body = json.dumps([sendgrid_event(message, "bounce", type="bounce", sg_event_id="e1")]).encode()
    other = SendGridSigner()
    stale = signer.headers(body, int(time.time()) - 3600)
    for headers, code in [
        ({}, 401),
        (other.headers(body), 403),  # signed with another key
        (stale, 403),
        ({**signer.headers(body), "X-Twilio-Email-Event-Webhook-Timestamp": "x"}, 403),
        (signer.headers(body + b" "), 403),  # the body changed after signing
    ]:
        response = client.post(url, content=body, headers=headers)
        assert response.status_code == code, (headers, response.text)
    assert status_of(client, org, message["id"]) == "sent" and suppressions(database) == {}

    for _ in range(3):  # SendGrid resends the same event: applied once
        assert client.post(url, content=body, headers=signer.headers(body)).status_code == 204
    assert status_of(client, org, message["id"]) == "bounced"
    assert events(database, "bounced") == 1
    assert suppressions(database) == {"ada@example.com": "hard_bounce"}
    # A delivery reported after the bounce is recorded but does not un-bounce the message.
    late = json.dumps([sendgrid_event(message, "delivered")]).encode()
    assert client.post(url, content=late, headers=signer.headers(late)).status_code == 204
    assert status_of(client, org, message["id"]) == "bounced"
    assert events(database, "delivered") == 1


# --- Postmark ----------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_postmark_needs_its_credentials_and_soft_bounces_add_up(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    settings(client, org)
    with FakePostmark() as fake:
        provider = add_postmark(client, org, fake)
        config = {
            "server_token": "pm-test-token",
            "endpoint_url": fake.url,
            "webhook_username": "herald",
            "webhook_password": "s3cret-webhook",
        }
        update = {"label": "Postmark", "position": 0, "config": config}
        response = client.put(
            f"/api/email/providers/{provider['id']}", json=update, headers=org.secret_headers
        )
        assert response.status_code == 200, response.text
        messages = [send_one(client, org, "full@example.com") for _ in range(3)]
    url = f"/webhooks/postmark/{provider['id']}"

    def soft(message: dict[str, Any], number: int) -> bytes:
        return json.dumps(
            {
                "RecordType": "Bounce",
                "ID": number,
                "Type": "SoftBounce",
                "MessageID": message["provider_message_id"],
                "Email": "full@example.com",
                "Metadata": {"herald_message_id": message["id"]},
            }
        ).encode()

    good = basic("herald", "s3cret-webhook")
    assert client.post(url, content=soft(messages[0], 1)).status_code == 401
    assert (
        client.post(url, content=soft(messages[0], 1), headers=basic("herald", "guess")).status_code
        == 403
    )
    assert (
        client.post(
            url, content=soft(messages[0], 1), headers={"Authorization": "Basic !!"}
        ).status_code
        == 403
    )
    assert events(database, "soft_bounce") == 0

    assert client.post(url, content=soft(messages[0], 1), headers=good).status_code == 204
    assert client.post(url, content=soft(messages[0], 1), headers=good).status_code == 204  # again
    assert client.post(url, content=soft(messages[1], 2), headers=good).status_code == 204
    assert suppressions(database) == {}  # two soft bounces: not yet
    assert client.post(url, content=soft(messages[2], 3), headers=good).status_code == 204
    assert suppressions(database) == {"full@example.com": "hard_bounce"}
    assert events(database, "soft_bounce") == 3
    complaint = json.dumps(
        {
            "RecordType": "SpamComplaint",
            "ID": 9,
            "MessageID": messages[0]["provider_message_id"],
            "Metadata": {"herald_message_id": messages[0]["id"]},
        }
    ).encode()
    assert client.post(url, content=complaint, headers=good).status_code == 204
    assert status_of(client, org, messages[0]["id"]) == "complained"
    assert suppressions(database) == {"full@example.com": "complaint"}


def test_a_webhook_cannot_touch_another_organizations_messages(
    client: TestClient, database: Database
) -> None:
    owner, intruder = make_org("Owner"), make_org("Intruder")
    settings(client, owner)
    with FakePostmark() as fake:
        add_postmark(client, owner, fake)
        message = send_one(client, owner, "ada@example.com")
        config = {
            "server_token": "pm-test-token",
            "endpoint_url": fake.url,
            "webhook_username": "i",
            "webhook_password": "p",
        }
        theirs = add_provider(client, intruder, kind="postmark", label="PM", config=config)
    body = json.dumps(
        {
            "RecordType": "Bounce",
            "ID": 1,
            "Type": "HardBounce",
            "MessageID": message["provider_message_id"],
            "Metadata": {"herald_message_id": message["id"]},
        }
    ).encode()
    response = client.post(
        f"/webhooks/postmark/{theirs['id']}", content=body, headers=basic("i", "p")
    )
    assert response.status_code == 204
    assert status_of(client, owner, message["id"]) == "sent" and suppressions(database) == {}
