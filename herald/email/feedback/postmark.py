"""Postmark's webhooks: the user name and password put in the webhook URL arrive as HTTP Basic
credentials, compared in constant time with the ones set for the provider."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from herald.email.feedback.apply import Feedback, Kind, herald_id
from herald.email.feedback.sns import Refused

# Postmark's bounce types that mean the address will not take mail.
HARD_BOUNCES = frozenset(
    {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification"}
)


def verify(username: str | None, password: str | None, authorization: str | None) -> None:
    if not username or not password:
        raise Refused("no webhook credentials are set for this Postmark provider")
    if not authorization or not authorization.lower().startswith("basic "):
        raise Refused("the request carries no credentials")
    try:
        given = base64.b64decode(authorization[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("the credentials are not valid Basic credentials") from None
    expected = f"{username}:{password}".encode()
    if not hmac.compare_digest(given, expected):
        raise Refused("the credentials do not match")


def parse(body: bytes) -> list[Feedback]:
    try:
        event = json.loads(body)
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(event, dict):
        raise Refused("the body is not an event")
    record = event.get("RecordType")
    message_id = str(event.get("MessageID") or "") or None
    herald = herald_id((event.get("Metadata") or {}).get("herald_message_id"))
    kind: Kind | None = None
    data: dict[str, Any] = {}
    event_id: str | None = None
    if record == "Bounce":
        kind = "hard_bounce" if event.get("Type") in HARD_BOUNCES else "soft_bounce"
        event_id = f"bounce:{event.get('ID')}"
        data = {"bounce_type": str(event.get("Type", ""))[:64]}
    elif record == "SpamComplaint":
        kind, event_id = "complaint", f"complaint:{event.get('ID')}"
    elif record == "Delivery":
        kind, event_id = "delivered", f"delivery:{message_id}"
    elif record == "Open":
        kind, event_id = "opened", f"open:{message_id}:{event.get('ReceivedAt')}"
    elif record == "Click":
        kind, event_id = "clicked", f"click:{message_id}:{event.get('ReceivedAt')}"
        data = {"url": str(event.get("OriginalLink", ""))[:2000]}
    elif record == "SubscriptionChange" and event.get("SuppressSending"):
        kind, event_id = "unsubscribe", f"subscription:{message_id}:{event.get('ChangedAt')}"
    if kind is None or event_id is None:
        return []
    return [
        Feedback(
            event_id=event_id,
            kind=kind,
            provider="postmark",
            herald_message_id=herald,
            provider_message_id=message_id,
            data=data,
        )
    ]
