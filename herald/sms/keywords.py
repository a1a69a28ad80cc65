"""Keywords people text to an organization's numbers, and the replies they get.

A message is a keyword when, in any case and with surrounding spaces and punctuation removed,
it is exactly one of the words (CTIA's list; "opt out" may be written "opt-out" or "OPT OUT!").
A longer message that merely contains one ("please stop texting me") is stored for a person to
read; carriers match keywords exactly in the same way.
"""

from __future__ import annotations

import re
from typing import Literal

from herald.models import SmsSettings

Keyword = Literal["stop", "start", "help"]

STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out"}
)
START_WORDS = frozenset({"start", "yes", "unstop"})
HELP_WORDS = frozenset({"help", "info"})
_NOT_A_LETTER = re.compile(r"[\W_]+", re.UNICODE)

DEFAULT_REPLIES: dict[Keyword, str] = {
    "stop": "{brand}: You are unsubscribed and will receive no more messages. "
    "Reply START to resubscribe.",
    "start": "{brand}: You are resubscribed to recurring marketing messages. Msg frequency "
    "varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.",
    "help": "{brand}: Recurring marketing messages. Msg frequency varies. Msg & data rates may "
    "apply. Reply STOP to opt out.",
}
DEFAULT_BRAND = "Herald"


def keyword_of(body: str) -> Keyword | None:
    words = " ".join(_NOT_A_LETTER.sub(" ", body).split()).lower()
    if words in STOP_WORDS:
        return "stop"
    if words in START_WORDS:
        return "start"
    if words in HELP_WORDS:
        return "help"
    return None


def reply_for(keyword: Keyword, settings: SmsSettings | None, organization_name: str) -> str:
    """The organization's reply to a keyword, or the default with its brand."""
    custom = getattr(settings, f"{keyword}_reply", None) if settings is not None else None
    if custom:
        return str(custom)
    brand = (settings.brand_name if settings is not None else None) or organization_name
    return DEFAULT_REPLIES[keyword].format(brand=brand or DEFAULT_BRAND)
