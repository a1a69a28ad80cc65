"""Open and click tracking, unsubscribe and preference links: signed per-message tokens.

Every link Herald puts in a message carries a token made with `herald.security.sign`, each kind
with its own purpose, so a token made for one use never verifies for another:

    open, unsubscribe, preferences:  <message id, base64url>.<signature of the message id>
    click:                           <message id>.<target URL, base64url>.<signature of both>

The token names the message (an unguessable UUIDv7, useless without the database) and, for a
click, the URL the message linked to; it holds no address or name. Changing any character breaks
the signature, and a click token verifies only for the URL it was made for: Herald redirects only
to URLs a message contained (DESIGN invariant 7).

Absolute URLs start from `HERALD_BASE_URL`:

    GET  /t/o/{token}   open pixel (a 1x1 GIF)
    GET  /t/c/{token}   click: 302 to the signed URL
    GET  /u/{token}     unsubscribe page (changes nothing); POST unsubscribes (RFC 8058 one-click)
    GET  /p/{token}     preference page; POST resubscribes or unsubscribes
"""

from __future__ import annotations

import base64
import binascii
import html
import ipaddress
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache, partial
from urllib.parse import quote

from herald.security import b64url, sign, verify_signature
from herald.settings import get_settings

OPEN_PURPOSE = "tracking:open"
CLICK_PURPOSE = "tracking:click"
UNSUBSCRIBE_PURPOSE = "tracking:unsubscribe"
PREFERENCES_PURPOSE = "tracking:preferences"

OPEN_PATH = "/t/o/"
CLICK_PATH = "/t/c/"
UNSUBSCRIBE_PATH = "/u/"
PREFERENCES_PATH = "/p/"

# Longest target URL a click token carries (browsers and mail clients cope with far longer
# links, but nobody writes them on purpose).
MAX_URL_LENGTH = 4096
# Marks a link the author does not want wrapped: <a href="…" data-herald-notrack>.
NOTRACK_ATTRIBUTE = "data-herald-notrack"
UNSUBSCRIBE_MAILBOX = "unsubscribe"


class InvalidToken(ValueError):
    """A token that Herald did not make, was altered, or was made for another purpose."""


# --- tokens --------------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise InvalidToken("not a token")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("not a token") from exc
    if b64url(raw) != text:  # spare bits set: another spelling of the same bytes
        raise InvalidToken("not a token")
    return raw


def _id_part(message_id: uuid.UUID) -> str:
    return b64url(message_id.bytes)


def _message_id(part: str) -> uuid.UUID:
    raw = _b64decode(part)
    if len(raw) != 16:
        raise InvalidToken("not a token")
    return uuid.UUID(bytes=raw)


def _click_payload(message_id: uuid.UUID, url: str) -> str:
    # The id has a fixed length, so the URL after it cannot be shifted to forge another pair.
    return f"{message_id}\n{url}"


def message_token(purpose: str, message_id: uuid.UUID) -> str:
    return f"{_id_part(message_id)}.{sign(purpose, str(message_id))}"


def click_token(message_id: uuid.UUID, url: str) -> str:
    return ".".join(
        (
            _id_part(message_id),
            b64url(url.encode()),
            sign(CLICK_PURPOSE, _click_payload(message_id, url)),
        )
    )


def read_message_token(purpose: str, token: str) -> uuid.UUID:
    """The message a token names, if Herald signed it for this purpose; else `InvalidToken`."""
    id_part, dot, signature = token.partition(".")
    if not dot or "." in signature:
        raise InvalidToken("not a token")
    message_id = _message_id(id_part)
    if not verify_signature(purpose, str(message_id), signature):
        raise InvalidToken("the signature does not match")
    return message_id


def read_click_token(token: str) -> tuple[uuid.UUID, str]:
    """The message and the URL a click token names, if Herald signed that pair."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a token")
    message_id = _message_id(parts[0])
    try:
        url = _b64decode(parts[1]).decode()
    except UnicodeDecodeError as exc:
        raise InvalidToken("not a token") from exc
    if not verify_signature(CLICK_PURPOSE, _click_payload(message_id, url), parts[2]):
        raise InvalidToken("the signature does not match")
    if not _is_web_url(url):  # never signed by prepare_html; refuse even if the key leaked
        raise InvalidToken("not a web address")
    return message_id, url


# --- absolute URLs -------------------------------------------------------------------------------


def base_url() -> str:
    return get_settings().base_url.rstrip("/")


def open_url(message_id: uuid.UUID) -> str:
    return f"{base_url()}{OPEN_PATH}{message_token(OPEN_PURPOSE, message_id)}"


def click_url(message_id: uuid.UUID, url: str) -> str:
    return f"{base_url()}{CLICK_PATH}{click_token(message_id, url)}"


def unsubscribe_url(message_id: uuid.UUID) -> str:
    return f"{base_url()}{UNSUBSCRIBE_PATH}{message_token(UNSUBSCRIBE_PURPOSE, message_id)}"


def preferences_url(message_id: uuid.UUID) -> str:
    return f"{base_url()}{PREFERENCES_PATH}{message_token(PREFERENCES_PURPOSE, message_id)}"


# --- List-Unsubscribe ----------------------------------------------------------------------------


def unsubscribe_mailbox(from_address: str) -> str:
    """The mailto: address for List-Unsubscribe: `unsubscribe@` at the sender's domain.

    Herald does not read that mailbox: route it to a person, or to a mailbox whose messages
    someone suppresses by hand. The HTTPS one-click link is what mailbox providers use."""
    _local, _at, domain = from_address.rpartition("<")[2].rstrip(">").strip().rpartition("@")
    if not domain:
        raise ValueError(f"not an email address: {from_address!r}")
    return f"{UNSUBSCRIBE_MAILBOX}@{domain.lower()}"


def list_unsubscribe_headers(message_id: uuid.UUID, mailto_address: str) -> dict[str, str]:
    """`List-Unsubscribe` (HTTPS one-click first, then mailto with the token in the subject)
    and `List-Unsubscribe-Post` (RFC 8058). Every marketing message carries both."""
    token = message_token(UNSUBSCRIBE_PURPOSE, message_id)
    subject = quote(f"unsubscribe {token}", safe="")
    https = f"{base_url()}{UNSUBSCRIBE_PATH}{token}"
    return {
        "List-Unsubscribe": f"<{https}>, <mailto:{mailto_address}?subject={subject}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# --- preparing HTML ------------------------------------------------------------------------------

# An <a> start tag with an href: the first href at the top level of the tag (quoted values are
# consumed whole, so an "href=" inside another attribute's value never matches), its value
# double-quoted, single-quoted or bare, and the rest of the tag (quoted values may contain ">").
_A_HREF = re.compile(
    r"""<a(?=[\s/])(?:[^>"']|"[^"]*"|'[^']*')*?(?<=[\s"'/])href\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))(?:[^>"']|"[^"]*"|'[^']*')*>""",
    re.IGNORECASE,
)
# One attribute of a tag: its name, then its value double-quoted, single-quoted or bare.
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_WEB_URL = re.compile(r"https?://[^\s]", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _is_web_url(url: str) -> bool:
    return _WEB_URL.match(url) is not None and len(url) <= MAX_URL_LENGTH


# A character reference in an attribute value. Named ones count only with their semicolon: in
# attributes, browsers leave "&not=1" alone (HTML's rule for legacy references before "=" or
# letters), which html.unescape would turn into "¬=1".
_CHARACTER_REFERENCE = re.compile(
    r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)"
)


def _decode_reference(match: re.Match[str]) -> str:
    return html.unescape(match.group(0))


def _attribute_value(raw: str) -> str:
    """An attribute's text as the browser reads it (`&amp;` -> `&`)."""
    simple = raw.replace("&amp;", "&")
    if "&" not in raw.replace("&amp;", ""):
        return simple  # the usual case: query strings written with &amp;
    return _CHARACTER_REFERENCE.sub(_decode_reference, raw)


def _has_notrack(tag: str) -> bool:
    return any(
        attribute.group(1).lower() == NOTRACK_ATTRIBUTE
        for attribute in _ATTRIBUTE.finditer(tag, 2, len(tag) - 1)
    )


def open_pixel(message_id: uuid.UUID) -> str:
    return (
        f'<img src="{html.escape(open_url(message_id))}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;overflow:hidden" />'
    )


@dataclass(frozen=True)
class _Own:
    """Links Herald made itself, which are never wrapped."""

    prefixes: tuple[str, ...]


@lru_cache(maxsize=8)
def _own_links(base: str) -> _Own:
    return _Own(tuple(base + path for path in (UNSUBSCRIBE_PATH, PREFERENCES_PATH, "/t/")))


def prepare_html(
    html_text: str, message_id: uuid.UUID, *, track_opens: bool = True, track_clicks: bool = True
) -> str:
    """Wrap each http(s) link in a signed click URL and add the open pixel.

    Left alone: mailto:, tel:, #anchors and other schemes, links marked `data-herald-notrack`,
    Herald's own unsubscribe and preference links, and hrefs that are not attribute values of an
    <a> tag. Entities in an href (`&amp;`) are decoded before signing, so the redirect goes to
    the URL a browser would have opened. The pixel goes before the last </body>, else at the end.
    """
    base = base_url()
    if track_clicks:
        own = _own_links(base).prefixes
        prefix = f"{base}{CLICK_PATH}{_id_part(message_id)}."
        payload_prefix = f"{message_id}\n"
        signature = partial(sign, CLICK_PURPOSE)
        tokens: dict[str, str] = {}

        def wrap(match: re.Match[str]) -> str:
            raw = match.group(1)
            if raw is None:
                raw = match.group(2)
                if raw is None:
                    raw = match.group(3)
            url = _attribute_value(raw).strip() if "&" in raw else raw.strip()
            if not _is_web_url(url) or url.startswith(own):
                return match.group(0)
            tag = match.group(0)
            if "notrack" in tag.lower() and _has_notrack(tag):
                return tag
            token = tokens.get(url)
            if token is None:  # the same address often appears twice (an image and a button)
                token = b64url(url.encode()) + "." + signature(payload_prefix + url)
                tokens[url] = token
            start, end = match.span(1) if match.group(1) is not None else match.span(0)
            if match.group(1) is None:  # single-quoted or bare: rewrite the attribute
                group = 2 if match.group(2) is not None else 3
                offset = 1 if group == 2 else 0
                start, end = match.span(group)
                start, end = start - offset, end + offset
                value = f'"{prefix}{token}"'
            else:
                value = prefix + token
            begin = match.start(0)
            return tag[: start - begin] + value + tag[end - begin :]

        html_text = _A_HREF.sub(wrap, html_text)
    if track_opens:
        pixel = open_pixel(message_id)
        end = html_text.rfind("</body>")
        if end < 0:
            ends = list(_BODY_END.finditer(html_text))
            end = ends[-1].start() if ends else -1
        if end < 0:
            html_text += pixel
        else:
            html_text = html_text[:end] + pixel + html_text[end:]
    return html_text


# --- machine opens -------------------------------------------------------------------------------

# Apple Mail Privacy Protection fetches every image when a message arrives, from Apple's
# network, with a bare "Mozilla/5.0" user agent.
_APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
_APPLE_PROXY_AGENTS = frozenset({"mozilla/5.0"})
# User agents of proxies that fetch on delivery, and of security scanners and link prefetchers
# that open or follow links before (or instead of) a person.
_MACHINE_AGENT = re.compile(
    r"yahoomailproxy|yahoo! slurp|"
    r"barracuda|mimecast|proofpoint|ppe-?hosted|trendmicro|sophos|symantec|forcepoint|fireeye|"
    r"safelinks|microsoft office existence discovery|ms-office|bingpreview|"
    r"google-safety|googlebot|adsbot|facebookexternalhit|slackbot|twitterbot|linkedinbot|"
    r"headlesschrome|phantomjs|python-requests|python-urllib|aiohttp|httpx|go-http-client|"
    r"curl/|wget/|libwww|java/|okhttp|apache-httpclient|"
    r"\bbot\b|crawler|spider|scanner|preview",
    re.IGNORECASE,
)
# Gmail's image proxy fetches when the person opens the message (then caches), so its opens
# are people; they are marked in the event's data ("proxy": "google") rather than as machines.
_GOOGLE_PROXY = re.compile(r"googleimageproxy|ggpht\.com", re.IGNORECASE)


def proxy_of(user_agent: str | None) -> str | None:
    """Which mail provider's image proxy fetched, when the user agent says so."""
    if not user_agent:
        return None
    if _GOOGLE_PROXY.search(user_agent):
        return "google"
    if "yahoomailproxy" in user_agent.lower():
        return "yahoo"
    return None


def _in_apple_network(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in _APPLE_NETWORKS)


def is_machine_open(user_agent: str | None, ip: str | None) -> bool:
    """Whether an open (or click) came from a machine rather than a person.

    Signals: Apple Mail Privacy Protection (a bare `Mozilla/5.0` agent, or an address in Apple's
    17.0.0.0/8); Yahoo's mail proxy, which fetches on delivery; security scanners and link
    prefetchers by their agent (Barracuda, Mimecast, Proofpoint, Microsoft Safe Links, headless
    browsers, HTTP libraries, anything calling itself a bot, crawler or preview); and no user
    agent at all. Gmail's image proxy is not a machine: it fetches when the person opens."""
    agent = (user_agent or "").strip()
    if not agent:
        return True
    if agent.lower() in _APPLE_PROXY_AGENTS or _in_apple_network(ip):
        return True
    if _GOOGLE_PROXY.search(agent):
        return False
    return _MACHINE_AGENT.search(agent) is not None
