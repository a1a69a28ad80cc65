"""Short, tracked links for SMS: every web link in a marketing SMS becomes
`<base URL>/s/<token>`, where the token names the message and the link's position in it and is
signed. The original URLs are kept on the message; a click is recorded as the message's
`clicked` event (a touch for attribution) and redirects only to a URL the message contained."""

from __future__ import annotations

import hmac
import re
import uuid

from sqlalchemy.orm import Session

from herald.messaging import tracking
from herald.models import Message
from herald.security import b64url, sign

PATH = "/s/"
PURPOSE = "sms:click"
SIGNATURE_LENGTH = 12  # 72 bits: a forged link is found by no amount of trying
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
MAX_LINKS = 20


class InvalidLink(Exception):
    pass


def _signature(message_id: uuid.UUID, index: int) -> str:
    return sign(PURPOSE, f"{message_id}\n{index}")[:SIGNATURE_LENGTH]


def short_url(message_id: uuid.UUID, index: int) -> str:
    token = f"{b64url(message_id.bytes)}{index:x}.{_signature(message_id, index)}"
    return f"{tracking.base_url()}{PATH}{token}"


def read_token(token: str) -> tuple[uuid.UUID, int]:
    head, dot, signature = token.partition(".")
    if not dot or len(head) < 23 or len(head) > 25:
        raise InvalidLink("not a link")
    try:
        message_id = uuid.UUID(bytes=tracking._b64decode(head[:22]))
        index = int(head[22:], 16)
    except ValueError as exc:
        raise InvalidLink("not a link") from exc
    if not hmac.compare_digest(_signature(message_id, index), signature):
        raise InvalidLink("the signature does not match")
    return message_id, index


def shorten(session: Session, message: Message, body: str) -> str:
    """The body with each web link replaced by its short tracked link; the originals are kept
    in the message's content (`links`) for the redirect."""
    originals: list[str] = []

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        trailing = ""
        while url and url[-1] in _TRAILING:
            trailing = url[-1] + trailing
            url = url[:-1]
        if url.startswith(tracking.base_url() + PATH) or len(originals) >= MAX_LINKS:
            return match.group(0)
        if url in originals:
            index = originals.index(url)
        else:
            originals.append(url)
            index = len(originals) - 1
        return short_url(message.id, index) + trailing

    shortened = _URL.sub(replace, body)
    if originals:
        message.content = {**(message.content or {}), "links": originals}
    return shortened


def link_of(message: Message, index: int) -> str | None:
    stored = (message.content or {}).get("links") or []
    if 0 <= index < len(stored) and isinstance(stored[index], str):
        return str(stored[index])
    return None
