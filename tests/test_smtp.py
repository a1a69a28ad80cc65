"""The SMTP provider against a real SMTP server on loopback (aiosmtpd in a thread): plain,
STARTTLS and implicit TLS, AUTH PLAIN and LOGIN, the MIME the server receives, 4xx and 5xx
replies, the connection pool, DKIM, and a message sent end to end through the API."""

from __future__ import annotations

import email
import ipaddress
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from herald.db import utcnow
from herald.email.mime import DkimKey, MimeParts, dkim_dns_value, render_mime
from herald.email.providers import OutgoingEmail, PermanentSendError, TransientSendError
from herald.email.providers.smtp import ConnectionPool, SmtpConfig, SmtpProvider
from tests.factories import make_org
from tests.processes import free_port

USER, PASSWORD = "mailer", "correct-horse"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    session_peer: Any


@dataclass
class Handler:
    """Stores what it receives; replies set in `rcpt_reply`, `data_reply` or `mail_reply`
    refuse instead."""

    received: list[Received] = field(default_factory=list)
    mail_reply: str | None = None
    rcpt_reply: str | None = None
    data_reply: str | None = None
    auth_mechanisms: list[str] = field(default_factory=list)

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or b""
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), content, session.peer)
        )
        return "250 2.0.0 Ok: queued"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.auth_mechanisms.append(mechanism)
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)


@dataclass
class Certificate:
    cert_pem: str
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, usable as its own CA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (directory / "cert.pem").write_text(cert_pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_pem, directory / "cert.pem", directory / "key.pem")


class Server:
    def __init__(self, handler: Handler, port: int, **kwargs: Any) -> None:
        self.handler = handler
        self.port = port
        self.kwargs = kwargs
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.handler.authenticate,
            **self.kwargs,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def serve(handler: Handler, **kwargs: Any) -> Iterator[Server]:
    server = Server(handler, free_port(), **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def plain_server(handler: Handler) -> Iterator[Server]:
    yield from serve(handler, auth_require_tls=False)


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    connections = ConnectionPool()
    yield connections
    connections.close_all()


def outgoing(
    to: str = "ada@example.org", dkim_key: DkimKey | None = None, **parts: Any
) -> OutgoingEmail:
    message_id = uuid.uuid4()
    mime = render_mime(
        MimeParts(
            message_id=message_id,
            from_email="shop@acme.example",
            from_name="Acme Shop",
            to_email=to,
            subject=parts.pop("subject", "Your order, Ada"),
            html=parts.pop("html", "<p>Thanks for your order, Ada. Ünïcode works.</p>"),
            text=parts.pop("text", "Thanks for your order, Ada. Ünïcode works."),
            reply_to="help@acme.example",
            headers=parts.pop("headers", {}),
        ),
        dkim_key,
    )
    return OutgoingEmail(
        message_id=message_id,
        org_id=uuid.uuid4(),
        idempotency_key=f"test:{message_id}",
        envelope_from="shop@acme.example",
        envelope_to=[to],
        mime=mime,
    )


def parse(content: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(content, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def config(server: Server, **values: Any) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=server.port, security="none", timeout=5, **values)


# --- Plain and authenticated --------------------------------------------------------------------


def test_plain_smtp_delivers_the_mime_message(
    plain_server: Server, handler: Handler, pool: ConnectionPool
) -> None:
    provider = SmtpProvider(config(plain_server), pool)
    message = outgoing()
    result = provider.send(message)
    assert result.provider_message_id == f"{message.message_id}@acme.example"
    (received,) = handler.received
    assert received.mail_from == "shop@acme.example"
    assert received.rcpt_tos == ["ada@example.org"]
    assert received.content.replace(b"\r\n", b"\n") == message.mime.replace(b"\r\n", b"\n")
    mime = parse(received.content)
    assert mime["From"] == "Acme Shop <shop@acme.example>"
    assert mime["To"] == "ada@example.org"
    assert mime["Subject"] == "Your order, Ada"
    assert mime["Reply-To"] == "help@acme.example"
    assert mime["Message-ID"] == f"<{message.message_id}@acme.example>"
    assert mime["X-Herald-Message-Id"] == str(message.message_id)
    assert mime.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in mime.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "Ünïcode" in mime.get_body(preferencelist=("html",)).get_content()
    assert "Ünïcode" in mime.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_plain_and_login(handler: Handler, pool: ConnectionPool, mechanism: str) -> None:
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    for server in serve(handler, auth_require_tls=False, auth_exclude_mechanism=[other]):
        provider = SmtpProvider(config(server, username=USER, password=PASSWORD), pool)
        provider.send(outgoing())
        assert handler.auth_mechanisms == [mechanism]
        assert len(handler.received) == 1


def test_wrong_credentials_are_a_permanent_error(
    plain_server: Server, handler: Handler, pool: ConnectionPool
) -> None:
    provider = SmtpProvider(config(plain_server, username=USER, password="wrong"), pool)
    with pytest.raises(PermanentSendError) as caught:
        provider.send(outgoing())
    assert caught.value.code == 535
    assert handler.received == []


# --- TLS ----------------------------------------------------------------------------------------


def test_starttls_with_a_trusted_certificate(
    handler: Handler, pool: ConnectionPool, certificate: Certificate
) -> None:
    for server in serve(handler, tls_context=certificate.server_context(), require_starttls=True):
        settings = SmtpConfig(
            host="127.0.0.1",
            port=server.port,
            security="starttls",
            username=USER,
            password=PASSWORD,
            timeout=5,
            ca_certificate=certificate.cert_pem,
        )
        SmtpProvider(settings, pool).send(outgoing())
        assert len(handler.received) == 1 and handler.auth_mechanisms
        # Without trusting the certificate, the connection is refused (and may be retried).
        untrusted = settings.model_copy(update={"ca_certificate": None})
        with pytest.raises(TransientSendError, match="certificate"):
            SmtpProvider(untrusted, pool).send(outgoing())
        # Unless verification is off on purpose.
        unverified = untrusted.model_copy(update={"verify_certificate": False})
        SmtpProvider(unverified, pool).send(outgoing())
        assert len(handler.received) == 2


def test_a_server_without_starttls_is_refused_when_starttls_is_configured(
    plain_server: Server, handler: Handler, pool: ConnectionPool
) -> None:
    settings = config(plain_server).model_copy(update={"security": "starttls"})
    with pytest.raises(PermanentSendError, match="STARTTLS"):
        SmtpProvider(settings, pool).send(outgoing())
    assert handler.received == []


def test_implicit_tls(handler: Handler, pool: ConnectionPool, certificate: Certificate) -> None:
    for server in serve(handler, ssl_context=certificate.server_context(), auth_require_tls=False):
        settings = SmtpConfig(
            host="127.0.0.1",
            port=server.port,
            security="ssl",
            username=USER,
            password=PASSWORD,
            timeout=5,
            ca_certificate=certificate.cert_pem,
        )
        SmtpProvider(settings, pool).send(outgoing())
        assert len(handler.received) == 1


# --- Replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "reply", "error"),
    [
        ("rcpt_reply", "550 5.1.1 No such user", PermanentSendError),
        ("rcpt_reply", "452 4.2.2 Mailbox full", TransientSendError),
        ("mail_reply", "553 5.7.1 Sender not allowed", PermanentSendError),
        ("mail_reply", "451 4.7.1 Greylisted, try later", TransientSendError),
        ("data_reply", "554 5.7.1 Message rejected as spam", PermanentSendError),
        ("data_reply", "450 4.7.0 Try again later", TransientSendError),
    ],
)
def test_4xx_replies_are_transient_and_5xx_permanent(
    plain_server: Server,
    handler: Handler,
    pool: ConnectionPool,
    stage: str,
    reply: str,
    error: type[Exception],
) -> None:
    setattr(handler, stage, reply)
    provider = SmtpProvider(config(plain_server), pool)
    with pytest.raises(error) as caught:
        provider.send(outgoing())
    code = int(reply[:3])
    assert getattr(caught.value, "code", None) == code
    assert reply[4:] in str(caught.value)
    # The refusal came as an answer: the connection stays usable and is reused.
    setattr(handler, stage, None)
    provider.send(outgoing())
    assert pool.opened == 1 and len(handler.received) == 1


def test_nobody_listening_is_a_transient_error(pool: ConnectionPool) -> None:
    settings = SmtpConfig(host="127.0.0.1", port=free_port(), security="none", timeout=2)
    with pytest.raises(TransientSendError, match="cannot connect"):
        SmtpProvider(settings, pool).send(outgoing())


# --- The pool -----------------------------------------------------------------------------------


def test_connections_are_reused_and_reopened_after_the_server_drops_them(
    plain_server: Server, handler: Handler, pool: ConnectionPool
) -> None:
    provider = SmtpProvider(config(plain_server), pool)
    for _ in range(3):
        provider.send(outgoing())
    assert pool.opened == 1
    assert len({r.session_peer for r in handler.received}) == 1  # one client connection
    # The server restarts: the pooled connection is dead, and the provider notices and reconnects.
    plain_server.stop()
    plain_server.start()
    provider.send(outgoing())
    assert pool.opened == 2 and len(handler.received) == 4
    # Another user on the same server gets a connection of its own.
    SmtpProvider(config(plain_server, username=USER, password=PASSWORD), pool).send(outgoing())
    assert pool.opened == 3


def test_the_pool_is_safe_across_threads(
    plain_server: Server, handler: Handler, pool: ConnectionPool
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    provider = SmtpProvider(config(plain_server), pool)
    messages = [outgoing(to=f"person{n}@example.org") for n in range(20)]
    with ThreadPoolExecutor(max_workers=4) as executor:
        list(executor.map(provider.send, messages))
    assert sorted(r.rcpt_tos[0] for r in handler.received) == sorted(
        m.envelope_to[0] for m in messages
    )
    assert pool.opened <= 4


# --- DKIM ---------------------------------------------------------------------------------------


def test_dkim_signature_verifies_on_the_received_message(
    plain_server: Server, handler: Handler, pool: ConnectionPool
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    record = dkim_dns_value(pem).encode()
    headers = {
        "List-Unsubscribe": "<https://herald.example/u/token>, <mailto:unsubscribe@acme.example>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    message = outgoing(dkim_key=DkimKey("acme.example", "herald1", pem), headers=headers)
    SmtpProvider(config(plain_server), pool).send(message)
    (received,) = handler.received
    looked_up: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record

    assert dkim.verify(received.content, dnsfunc=dns)
    assert looked_up == [b"herald1._domainkey.acme.example."]
    signature = parse(received.content)["DKIM-Signature"]
    signed = {
        h.strip().lower()
        for h in signature.replace("\r\n", "").split("h=")[1].split(";")[0].split(":")
    }
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= signed
    assert {"to", "date", "message-id"} <= signed
    # Changing a signed header breaks the signature.
    tampered = received.content.replace(b"Subject: Your order", b"Subject: Your 0rder")
    assert not dkim.verify(tampered, dnsfunc=dns)


# --- End to end ---------------------------------------------------------------------------------


def test_a_message_sent_through_the_api_arrives_over_smtp(
    client: TestClient, plain_server: Server, handler: Handler
) -> None:
    org = make_org()
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    settings = client.put(
        "/api/email/settings",
        json={
            "provider": "smtp",
            "smtp": {
                "host": "127.0.0.1",
                "port": plain_server.port,
                "security": "none",
                "username": USER,
                "password": PASSWORD,
                "timeout": 5,
            },
            "default_from_email": "shop@acme.example",
            "default_from_name": "Acme",
            "postal_address": "1 Harbour Street, Portsmouth",
            "dkim_domain": "acme.example",
            "dkim_selector": "herald1",
            "dkim_private_key": pem,
        },
        headers=org.secret_headers,
    )
    assert settings.status_code == 200, settings.text
    record = settings.json()["dkim_record"]["value"].encode()
    response = client.post(
        "/api/messages/email",
        json={
            "to": {"email": "ada@example.org"},
            "subject": "Hello {{ data.name }}",
            "html": "<p>Hello {{ data.name }}</p>",
            "data": {"name": "Ada"},
            "marketing": True,
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    detail = client.get(f"/api/messages/{message_id}", headers=org.secret_headers).json()
    assert detail["status"] == "sent", detail
    assert detail["provider"] == "smtp"
    assert detail["provider_message_id"] == f"{message_id}@acme.example"
    (received,) = handler.received
    assert handler.auth_mechanisms  # authenticated with the stored (encrypted) password
    mime = parse(received.content)
    assert mime["Subject"] == "Hello Ada"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert dkim.verify(received.content, dnsfunc=lambda name, timeout=5: record)
    # Nothing went to the outbox.
    assert client.get("/api/outbox", headers=org.secret_headers).json()["data"] == []


def test_an_unreachable_server_queues_the_message_for_a_retry(client: TestClient) -> None:
    org = make_org()
    response = client.put(
        "/api/email/settings",
        json={
            "provider": "smtp",
            "smtp": {"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 2},
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    created = client.post(
        "/api/messages/email",
        json={"to": {"email": "a@example.org"}, "subject": "s", "html": "<p>h</p>"},
        headers=org.secret_headers,
    ).json()
    detail = client.get(f"/api/messages/{created['id']}", headers=org.secret_headers).json()
    assert detail["status"] == "queued" and "cannot connect" in detail["error"]
    assert detail["send_after"] is not None
    assert [e["kind"] for e in detail["events"]] == ["queued", "sending", "queued"]


def test_internationalized_addresses(handler: Handler, pool: ConnectionPool) -> None:
    """IDN domains go out in ASCII; a non-ASCII local part goes with SMTPUTF8 (aiosmtpd always
    offers it, so the refusal by a server without it is not tested here)."""
    for server in serve(handler, auth_require_tls=False, enable_SMTPUTF8=True):
        provider = SmtpProvider(config(server), pool)
        provider.send(outgoing(to="ada@xn--exmple-cua.com"))
        assert handler.received[-1].rcpt_tos == ["ada@xn--exmple-cua.com"]
        provider.send(outgoing(to="josé@example.com"))
        assert handler.received[-1].rcpt_tos == ["josé@example.com"]
        assert parse(handler.received[-1].content)["To"] == "josé@example.com"


def test_mime_puts_idn_domains_in_ascii() -> None:
    message = outgoing(to="ada@exämple.com")
    assert b"To: ada@xn--exmple-cua.com" in message.mime
