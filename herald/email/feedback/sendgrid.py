"""SendGrid's signed event webhook: an ECDSA (P-256, SHA-256) signature over the timestamp
header followed by the raw body, checked with the verification key the account shows; a
timestamp more than TOLERANCE seconds away from now is refused (a replay)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from herald.email.feedback.apply import Feedback, Kind, herald_id
from herald.email.feedback.sns import Refused

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TOLERANCE = 300


def verify(
    public_key: str | None, signature: str | None, timestamp: str | None, body: bytes
) -> None:
    if not public_key:
        raise Refused("no verification key is set for this SendGrid provider")
    if not signature or not timestamp:
        raise Refused("the request is not signed")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Refused("the signature timestamp is not a number") from None
    if abs(time.time() - sent_at) > TOLERANCE:
        raise Refused("the signature timestamp is too old or in the future")
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key))
    except ValueError as exc:
        raise Refused("the verification key is not a base64 DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refused("the verification key is not an ECDSA key")
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError) as exc:
        raise Refused("the signature does not match") from exc


KINDS: dict[str, Kind] = {
    "delivered": "delivered",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
    "open": "opened",
    "click": "clicked",
}


def parse(body: bytes) -> list[Feedback]:
    try:
        events = json.loads(body)
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(events, list):
        raise Refused("the body is not a list of events")
    items = []
    for event in events:
        if not isinstance(event, dict) or not event.get("sg_event_id"):
            continue
        name = str(event.get("event", ""))
        kind: Kind | None = KINDS.get(name)
        if name == "bounce":
            # "blocked" is a temporary refusal; "bounce" a permanent one.
            kind = "soft_bounce" if event.get("type") == "blocked" else "hard_bounce"
        if kind is None:
            continue
        sg_message_id = str(event.get("sg_message_id") or "").split(".", 1)[0] or None
        data: dict[str, Any] = {}
        if event.get("reason"):
            data["reason"] = str(event["reason"])[:500]
        if name == "click" and event.get("url"):
            data["url"] = str(event["url"])[:2000]
        items.append(
            Feedback(
                event_id=str(event["sg_event_id"]),
                kind=kind,
                provider="sendgrid",
                herald_message_id=herald_id(event.get("herald_message_id")),
                provider_message_id=sg_message_id,
                data=data,
            )
        )
    return items
