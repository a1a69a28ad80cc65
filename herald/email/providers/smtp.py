"""SMTP: a small pool of authenticated connections per server, STARTTLS or implicit TLS, and SMTP
reply codes sorted into transient (4xx, dropped connections, timeouts) and permanent (5xx)."""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from herald.email.providers.base import (
    OutgoingEmail,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

logger = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]


class SmtpConfig(BaseModel):
    """How to reach the relay. Stored encrypted (EmailSettings.provider_config)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    # starttls: plain connection upgraded with STARTTLS (port 587); ssl: TLS from the first byte
    # (port 465); none: no encryption (a relay on the same machine or network only).
    security: Security = "starttls"
    username: str | None = Field(default=None, max_length=255)
    password: str | None = Field(default=None, max_length=1024)
    # Seconds for connecting and for each reply; well below the send claim's stale time.
    timeout: float = Field(default=30.0, gt=0, le=120)
    verify_certificate: bool = True
    # A PEM CA certificate to trust besides the system's (a relay with a private CA).
    ca_certificate: str | None = Field(default=None, max_length=20_000)
    # The name sent with EHLO; the machine's fully qualified name when left out.
    helo_hostname: str | None = Field(default=None, max_length=253)

    def pool_key(self) -> tuple[str, int, str, str | None, str]:
        # Host, port and user name the pool; a digest of the rest keeps a changed password or
        # TLS setting from reusing a connection opened with the old one.
        rest = f"{self.password}\0{self.verify_certificate}\0{self.ca_certificate}\0"
        rest += f"{self.helo_hostname}\0{self.timeout}"
        digest = hashlib.sha256(rest.encode()).hexdigest()
        return (self.host.lower(), self.port, self.security, self.username, digest)


def tls_context(config: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.ca_certificate:
        context.load_verify_locations(cadata=config.ca_certificate)
    if not config.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def classify(code: int | None, text: str) -> SendError:
    """4xx and anything unexpected: try again later; 5xx: the server will not take it."""
    if code is not None and 500 <= code <= 599:
        return PermanentSendError(f"{code} {text}".strip(), code=code)
    return TransientSendError(f"{code} {text}".strip() if code else text, code=code)


def _reply_text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


class _Dropped(Exception):
    """The server had closed the connection before it was asked to take anything (a pooled
    connection found dead at MAIL FROM): the message can go on a fresh one."""


# An address that smtplib's quoteaddr() would give back as <address>: quoteaddr parses every
# address with the email package, which cost more than the rest of MAIL FROM and RCPT TO.
_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\],;:\\\"@]+@[^\s<>()\[\],;:\\\"@]+")


_LINE_START_DOT = re.compile(rb"\n\.")


def _quote(address: str) -> str:
    return f"<{address}>" if _PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


class _SMTP(smtplib.SMTP):
    """What Herald changes in smtplib's client, for speed and to tell failures apart:

    - a connection found closed at MAIL FROM (nothing taken yet) is told apart from one lost
      later, so that the message can go on a fresh one;
    - plain addresses are put in <> without parsing them;
    - the message is dot-stuffed by `bytes.replace` rather than a regular expression over the
      whole of it, and sent with its end marker without copying it (sendmsg).
    """

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        option_list = ""
        if options and self.does_esmtp:
            if any(option.lower() == "smtputf8" for option in options):
                if not self.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
                self.command_encoding = "utf-8"
            option_list = " " + " ".join(options)
        try:
            self.putcmd("mail", f"FROM:{_quote(sender)}{option_list}")
            return self.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc)) from exc

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        option_list = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:{_quote(recip)}{option_list}")
        return self.getreply()

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        if not isinstance(msg, bytes):
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # smtplib's rule: a line that starts with a dot gets another.
        if msg.startswith(b"."):
            msg = b"." + msg
        if _LINE_START_DOT.search(msg):  # faster than `in` for this two-byte needle
            msg = msg.replace(b"\n.", b"\n..")
        self._send_pieces(msg, b".\r\n" if msg.endswith(b"\r\n") else b"\r\n.\r\n")
        return self.getreply()

    def _send_pieces(self, *pieces: bytes) -> None:
        sock = self.sock
        if sock is None or isinstance(sock, ssl.SSLSocket):  # TLS has no sendmsg
            self.send(b"".join(pieces))
            return
        try:
            sent = sock.sendmsg(pieces)
            if sent < sum(map(len, pieces)):
                sock.sendall(b"".join(pieces)[sent:])
        except OSError as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected("Server not connected") from exc


class _SMTP_SSL(_SMTP, smtplib.SMTP_SSL):  # noqa: N801 (smtplib's name)
    pass


def connect(config: SmtpConfig) -> smtplib.SMTP:
    """A new connection, encrypted and authenticated as configured."""
    connection: smtplib.SMTP
    context = tls_context(config) if config.security != "none" else None
    try:
        if config.security == "ssl":
            connection = _SMTP_SSL(
                config.host,
                config.port,
                local_hostname=config.helo_hostname,
                timeout=config.timeout,
                context=context,
            )
        else:
            connection = _SMTP(
                config.host,
                config.port,
                local_hostname=config.helo_hostname,
                timeout=config.timeout,
            )
    except smtplib.SMTPConnectError as exc:
        raise classify(exc.smtp_code, _reply_text(exc.smtp_error)) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientSendError(f"cannot connect to {config.host}:{config.port}: {exc}") from exc
    try:
        connection.ehlo()
        if config.security == "starttls":
            connection.starttls(context=context)
            connection.ehlo()
        if config.username:
            connection.login(config.username, config.password or "")
    except BaseException as exc:
        _close(connection)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            raise PermanentSendError(f"{config.host}: {exc}") from exc
        if isinstance(exc, smtplib.SMTPResponseException):
            raise classify(exc.smtp_code, _reply_text(exc.smtp_error)) from exc
        if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
            raise TransientSendError(f"{config.host}: {exc}") from exc
        if isinstance(exc, smtplib.SMTPException):  # no usable AUTH mechanism, for one
            raise PermanentSendError(f"{config.host}: {exc}") from exc
        raise
    return connection


def _close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


class ConnectionPool:
    """Idle connections per server, handed to one thread at a time. A connection is returned
    after a send the server answered, and dropped after anything else."""

    def __init__(self, *, max_idle: int = 4, max_idle_seconds: float = 60.0) -> None:
        self.max_idle = max_idle
        self.max_idle_seconds = max_idle_seconds
        self._idle: dict[tuple[object, ...], list[tuple[float, smtplib.SMTP]]] = {}
        self._lock = threading.Lock()
        # How many connections were opened, for tests and diagnostics.
        self.opened = 0

    def acquire(
        self, config: SmtpConfig, key: tuple[object, ...] | None = None
    ) -> tuple[smtplib.SMTP, bool]:
        """A connection to use, and whether it is a reused one (which may have been dropped by
        the server since)."""
        key = key or config.pool_key()
        now = time.monotonic()
        stale: list[smtplib.SMTP] = []
        found: smtplib.SMTP | None = None
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                since, connection = idle.pop()
                if now - since <= self.max_idle_seconds:
                    found = connection
                    break
                stale.append(connection)
        for connection in stale:
            _close(connection)
        if found is not None:
            return found, True
        return self.open(config), False

    def open(self, config: SmtpConfig) -> smtplib.SMTP:
        """A new connection (not yet in the pool)."""
        connection = connect(config)
        with self._lock:
            self.opened += 1
        return connection

    def release(
        self, config: SmtpConfig, connection: smtplib.SMTP, key: tuple[object, ...] | None = None
    ) -> None:
        key = key or config.pool_key()
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append((time.monotonic(), connection))
                return
        _close(connection)

    def close_all(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for _t, c in idle]
            self._idle.clear()
        for connection in connections:
            _close(connection)


# One pool per process: every send to the same server shares it.
pool = ConnectionPool()


class SmtpProvider:
    name = "smtp"

    def __init__(self, config: SmtpConfig, connection_pool: ConnectionPool | None = None) -> None:
        self.config = config
        self.pool = connection_pool or pool
        # Worked out once: a provider serves a whole batch of messages.
        self.pool_key = config.pool_key()

    def check(self, domain: str | None = None) -> str:
        """Connect, upgrade to TLS and log in as configured, then quit: a server that cannot
        be reached or refuses the login is reported now, not on a message later."""
        connection = connect(self.config)
        _close(connection)
        login = f" and logged in as {self.config.username}" if self.config.username else ""
        return f"connected to {self.config.host}:{self.config.port}{login}"

    def send(self, email: OutgoingEmail) -> SendResult:
        connection, reused = self.pool.acquire(self.config, self.pool_key)
        try:
            return self._send_on(connection, email, reused=reused)
        except _Dropped:
            # The server closed the idle connection: the same message on a fresh one.
            return self._send_on(self.pool.open(self.config), email, reused=False)

    def _send_on(self, connection: smtplib.SMTP, email: OutgoingEmail, reused: bool) -> SendResult:
        keep = False
        try:
            options: list[str] = []
            if not all(a.isascii() for a in (email.envelope_from, *email.envelope_to)):
                if not connection.has_extn("smtputf8"):
                    keep = True  # nothing was sent on it
                    raise PermanentSendError(
                        f"{self.config.host} does not accept internationalized addresses "
                        "(no SMTPUTF8)"
                    )
                options.append("SMTPUTF8")
            refused = connection.sendmail(
                email.envelope_from, email.envelope_to, email.mime, mail_options=options
            )
            keep = True
        except _Dropped as exc:
            if reused:
                raise
            raise TransientSendError(f"{self.config.host}: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            # smtplib reset the transaction; the connection is still good.
            keep = True
            replies = list(exc.recipients.values())
            if replies and all(400 <= code <= 499 for code, _text in replies):
                code, text = replies[0]
                raise TransientSendError(f"{code} {_reply_text(text)}", code=code) from exc
            code, text = next(((c, t) for c, t in replies if c >= 500), replies[0])
            raise PermanentSendError(f"{code} {_reply_text(text)}", code=code) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, and the like: answered, so the connection is good.
            keep = exc.smtp_code != 421  # 421: the server is closing the connection
            raise classify(exc.smtp_code, _reply_text(exc.smtp_error)) from exc
        except UnicodeError as exc:  # an address or header the server cannot take as it is
            raise PermanentSendError(f"{self.config.host}: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            keep = False  # dropped, timed out or confused: never reuse it
            raise TransientSendError(f"{self.config.host}: {exc}") from exc
        finally:
            if keep:
                self.pool.release(self.config, connection, self.pool_key)
            else:
                connection.close()
        if refused:  # some of several recipients refused; Herald sends to one at a time
            logger.warning("recipients refused for message %s: %s", email.message_id, refused)
        return SendResult(provider_message_id=_header_message_id(email.mime, email))


def _header_message_id(mime: bytes, email: OutgoingEmail) -> str:
    """The Message-ID header: bounces and reports name the message by it."""
    end = mime.find(b"\r\n\r\n")
    head = mime[: end if end >= 0 else len(mime)]
    at = head.find(b"\r\nMessage-ID:")  # as Herald writes it
    if at >= 0:
        stop = head.find(b"\r\n", at + 13)
        value = head[at + 13 : stop if stop >= 0 else len(head)]
        return value.strip().decode("ascii", "replace").strip("<>")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"message-id":
            return value.strip().decode("ascii", "replace").strip("<>")
    return str(email.message_id)
