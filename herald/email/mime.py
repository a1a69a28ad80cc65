"""Building the MIME message Herald sends, and signing it with DKIM.

One function makes the bytes every provider gets: multipart/alternative with a text and an HTML
part, the usual headers, Herald's own `X-Herald-Message-Id`, the List-Unsubscribe pair for
marketing email, and a DKIM-Signature when the organization has a key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from herald.db import utcnow

HERALD_MESSAGE_ID = "X-Herald-Message-Id"
# Signed when present. Listing a header signs its absence too, so List-Unsubscribe cannot be
# added to a signed transactional message on the way.
DKIM_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_key_pem: str


@dataclass
class MimeParts:
    message_id: uuid.UUID
    from_email: str
    to_email: str
    subject: str
    html: str
    text: str
    from_name: str | None = None
    to_name: str | None = None
    reply_to: str | None = None
    # Extra headers, List-Unsubscribe and List-Unsubscribe-Post among them.
    headers: dict[str, str] = field(default_factory=dict)
    date: datetime | None = None


def ascii_address(address: str) -> str:
    """The address with its domain in ASCII (IDNA), as DNS and SMTP want it. A non-ASCII local
    part stays: only servers that offer SMTPUTF8 take it."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def needs_smtputf8(*addresses: str) -> bool:
    return not all(ascii_address(a).isascii() for a in addresses)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def header_message_id(message_id: uuid.UUID, from_email: str) -> str:
    """`<message-id@sender domain>`: the same for every attempt at the same message, so a
    receiver can tell a re-sent copy from a new message."""
    return f"<{message_id}@{domain_of(from_email) or 'herald.invalid'}>"


def _address(name: str | None, address: str) -> Address:
    # Given in parts: parsing an addr_spec refuses a non-ASCII local part even under SMTPUTF8.
    local, _at, domain = address.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


@lru_cache(maxsize=1024)
def display_address(name: str | None, address: str) -> str:
    """`Name <address>`, quoted as needed: a sender's, the same for a whole campaign (the email
    package takes longer to make one than the rest of a message's headers)."""
    return str(_address(name, address))


def _header(name: str, value: str, mail_policy: Any) -> bytes:
    if "\r" in value or "\n" in value:
        # A line break in a value would start a header of the value's choosing (Bcc: ...).
        raise ValueError(f"the {name} header must not contain line breaks")
    line = f"{name}: {value}"
    if line.isascii():
        return _fold_ascii(line)
    # Non-ASCII: the email package encodes (RFC 2047) and folds it.
    folded: str = mail_policy.header_factory(name, value).fold(policy=mail_policy)
    return folded.encode("utf-8" if mail_policy.utf8 else "ascii", "surrogateescape")


def _fold_ascii(line: str) -> bytes:
    """Fold at spaces to keep lines within 78 characters where a space allows, never encoding:
    List-Unsubscribe's <URL>s must reach the mail client as written (RFC 5322 allows a line of
    998 characters for a longer word)."""
    words = line.split(" ")
    lines, current = [], words[0]
    for word in words[1:]:
        # Never fold right after the header's name.
        if len(current) + 1 + len(word) > 78 and " " in current:
            lines.append(current)
            current = " " + word
        else:
            current += " " + word
    lines.append(current)
    if any(len(part) > 998 for part in lines):
        raise ValueError(f"header {line.split(':', 1)[0]} has a word over 998 characters")
    return "\r\n".join(lines).encode("ascii") + b"\r\n"


def _headers(parts: MimeParts, boundary: str) -> bytes:
    """The top-level header block. Short ASCII headers are written as they are; the rest go
    through the email package, whose header objects cost more than the rest of the message."""
    from_email, to_email = ascii_address(parts.from_email), ascii_address(parts.to_email)
    mail_policy = policy.SMTPUTF8 if needs_smtputf8(from_email, to_email) else policy.SMTP
    headers = [
        ("From", display_address(parts.from_name, from_email)),
        ("To", str(_address(parts.to_name, to_email))),
        ("Subject", parts.subject),
    ]
    if parts.reply_to:
        headers.append(("Reply-To", parts.reply_to))
    headers += [
        ("Date", format_datetime(parts.date or utcnow())),
        ("Message-ID", header_message_id(parts.message_id, from_email)),
        (HERALD_MESSAGE_ID, str(parts.message_id)),
        *parts.headers.items(),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    return b"".join(_header(name, value, mail_policy) for name, value in headers) + b"\r\n"


# Base64 lines are 76 characters (RFC 2045); a line sent as it is, at most 998 (RFC 5322).
_BASE64_LINE = re.compile(rb".{1,76}")
_LONGEST_LINE = 998


def _short_lines(text: str) -> bool:
    """Whether every line fits in an SMTP line: each window of 999 characters has a line break,
    and the next window starts after its last one. A few steps for any text, stopping at the
    first long line (a compiled MJML body has one of thousands of characters early on)."""
    start = 0
    while len(text) - start > _LONGEST_LINE:
        end = text.rfind("\n", start, start + _LONGEST_LINE + 1)
        if end < 0:
            return False
        start = end + 1
    return True


def _base64(text: str) -> bytes:
    """The text as UTF-8 in base64, in CRLF-ended lines of 76 characters. Both C-speed: quoted-
    printable (binascii's, let alone the email package's) took several times as long for a
    40 kB newsletter, whose compiled HTML comes in lines of thousands of characters that it
    must break anyway; base64 of UTF-8 text is what SpamAssassin's MIME_BASE64_TEXT spares."""
    lines = _BASE64_LINE.findall(base64.b64encode(text.encode("utf-8")))
    lines.append(b"")  # the last line's CRLF, without copying the rest again
    return b"\r\n".join(lines)


def _part(subtype: str, text: str, boundary: str) -> tuple[bytes, bytes]:
    """A text part's head and body: as it is (7bit) when it is ASCII in lines short enough for
    SMTP, as most plain-text parts are; else in base64."""
    as_is = text.isascii()  # known to the string: no scan
    if as_is:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        as_is = "\0" not in text and boundary not in text and _short_lines(text)
    if as_is:
        if text and not text.endswith("\n"):
            text += "\n"  # the last line's CRLF
        encoding, body = "7bit", text.replace("\n", "\r\n").encode("ascii")
    else:
        encoding, body = "base64", _base64(text)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}'
    return f"{head}\r\n\r\n".encode(), body


def build_message(parts: MimeParts) -> bytes:
    """The message as sent: multipart/alternative with the text part first, both UTF-8, each
    as it is or in base64 (see `_part`). Joined once: the parts are tens of kilobytes."""
    boundary = f"=_herald_{parts.message_id.hex}"
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(
        (
            _headers(parts, boundary),
            delimiter,
            *_part("plain", parts.text or "", boundary),
            delimiter,
            *_part("html", parts.html, boundary),
            f"--{boundary}--\r\n".encode(),
        )
    )


# DKIM (RFC 6376), relaxed/relaxed with rsa-sha256. Written here rather than with dkimpy, whose
# RSA is pure Python: it took 8 ms of CPU a message, several times all the rest of sending it.
_WSP_RUN = re.compile(rb"\t[\t ]*| [\t ]+")  # a tab, or more than one blank: compressed
_WSP_AT_LINE_END = re.compile(rb"[\t ]+\r\n")
_FOLD = re.compile(rb"\r?\n")


def _relaxed_body(body: bytes) -> bytes:
    """Blanks at line ends dropped, runs of blanks made one space, empty lines at the end
    dropped, one CRLF at the end (none for an empty body)."""
    body = _WSP_RUN.sub(b" ", _WSP_AT_LINE_END.sub(b"\r\n", body))
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def _relaxed_header(name: bytes, value: bytes) -> bytes:
    """name:value as relaxed header canonicalization has it, without its CRLF."""
    value = _WSP_RUN.sub(b" ", _FOLD.sub(b"", value)).strip()
    return name.lower().rstrip() + b":" + value


def _header_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value) of each header field, folded lines joined back, in order."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        elif line:
            name, _colon, value = line.partition(b":")
            fields.append((name, value))
    return fields


def _signed_fields(
    fields: list[tuple[bytes, bytes]], names: tuple[bytes, ...]
) -> list[tuple[bytes, bytes]]:
    """The fields `h=` names, in its order: for a name listed again, the next instance up from
    the bottom; a name with no instance left signs its absence and adds nothing."""
    chosen, used = [], set()
    for name in names:
        for index in range(len(fields) - 1, -1, -1):
            if index not in used and fields[index][0].lower().strip() == name:
                chosen.append(fields[index])
                used.add(index)
                break
    return chosen


@lru_cache(maxsize=64)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("DKIM keys must be RSA keys")
    return key


def _folded(tag_list: bytes) -> bytes:
    """A long base64 value in lines of 72: the whitespace relaxed canonicalization ignores."""
    return b"\r\n ".join(tag_list[i : i + 72] for i in range(0, len(tag_list), 72))


def sign(mime: bytes, key: DkimKey, now: datetime | None = None) -> bytes:
    """The message with a DKIM-Signature header in front (relaxed/relaxed, rsa-sha256) over
    the headers of DKIM_HEADERS (present or not: listing a header signs its absence)."""
    end = mime.find(b"\r\n\r\n")
    head, body = (mime[:end], mime[end + 4 :]) if end >= 0 else (mime.rstrip(b"\r\n"), b"")
    body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest())
    names = tuple(name.lower().encode() for name in DKIM_HEADERS)
    domain, selector = key.domain.encode(), key.selector.encode()
    stamp = int((now or utcnow()).timestamp())
    tags = (
        b"v=1; a=rsa-sha256; c=relaxed/relaxed; d="
        + domain
        + b"; i=@"
        + domain
        + b"; q=dns/txt; s="
        + selector
        + b";\r\n t="
        + str(stamp).encode()
        + b"; h="
        + b" : ".join(names)
        + b";\r\n bh="
        + body_hash
        + b";\r\n b="
    )
    signed = b"".join(
        _relaxed_header(name, value) + b"\r\n"
        for name, value in _signed_fields(_header_fields(head), names)
    )
    # The signature's own header, b= empty, ends the hashed data without a CRLF.
    signed += _relaxed_header(b"DKIM-Signature", b" " + tags)
    signature = _private_key(key.private_key_pem).sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return b"DKIM-Signature: " + tags + _folded(base64.b64encode(signature)) + b"\r\n" + mime


def render_mime(parts: MimeParts, dkim_key: DkimKey | None = None) -> bytes:
    mime = build_message(parts)
    return sign(mime, dkim_key) if dkim_key is not None else mime


# --- DKIM keys ----------------------------------------------------------------------------------

MINIMUM_DKIM_BITS = 1024


def check_dkim_key(pem: str) -> str:
    """Validate a PEM private key for DKIM (RSA, 1024 bits or more); returns it normalized, or
    raises ValueError with a reason."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("DKIM keys must be RSA keys")
    if key.key_size < MINIMUM_DKIM_BITS:
        raise ValueError(f"the key must have at least {MINIMUM_DKIM_BITS} bits (2048 advised)")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def dkim_dns_value(pem: str) -> str:
    """The TXT record to publish at `<selector>._domainkey.<domain>` for this private key."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


# --- Reading a stored message -------------------------------------------------------------------


@dataclass
class ParsedEmail:
    headers: list[tuple[str, str]]
    from_: str | None
    to: str | None
    subject: str | None
    date: str | None
    html: str | None
    text: str | None


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def parse(raw: bytes) -> ParsedEmail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)

    def header(name: str) -> str | None:
        value = message.get(name)
        return str(value) if value is not None else None

    return ParsedEmail(
        headers=[(name, str(value)) for name, value in message.items()],
        from_=header("From"),
        to=header("To"),
        subject=header("Subject"),
        date=header("Date"),
        html=_part_text(message, "html"),
        text=_part_text(message, "plain"),
    )
