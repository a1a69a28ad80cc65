"""Amazon SES feedback through SNS: the message signature is checked before anything else is
read (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA, over the fields AWS names), with the
signing certificate fetched only from an https URL on an SNS host of AWS, and the TopicArn must be
one the organization configured. A subscription is confirmed only after all of that, and only by
calling an SNS host of AWS.

Tests sign with a certificate of their own, served from loopback: `allow_certificate_hosts`
(test process only) lets those hosts stand in for AWS's.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from herald.email.feedback.apply import Feedback, herald_id
from herald.outbound import DestinationRefused, outbound_client

# sns.<region>.amazonaws.com (and .com.cn in China).
AWS_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
MAX_CERTIFICATES = 64


class Refused(Exception):
    """The request is not a genuine SNS message for this organization."""


_allowed_lock = threading.Lock()
_allowed_hosts: list[str] = []
_certificates: dict[str, rsa.RSAPublicKey] = {}


@contextmanager
def allow_certificate_hosts(*hosts: str) -> Iterator[None]:
    """Tests only: let these hosts (host:port) serve certificates and subscription URLs."""
    with _allowed_lock:
        _allowed_hosts.extend(hosts)
    try:
        yield
    finally:
        with _allowed_lock:
            for host in hosts:
                _allowed_hosts.remove(host)
            _certificates.clear()


def _aws_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    with _allowed_lock:
        allowed = parts.netloc in _allowed_hosts
    if allowed:
        return url
    if parts.scheme != "https":
        raise Refused(f"the {what} is not an https URL")
    if (
        not parts.hostname
        or not AWS_SNS_HOST.match(parts.hostname)
        or parts.port not in (None, 443)
    ):
        raise Refused(f"the {what} is not on an SNS host of AWS")
    return url


def _certificate_key(url: str) -> rsa.RSAPublicKey:
    url = _aws_url(url, "signing certificate URL")
    if not urlsplit(url).path.endswith(".pem"):
        raise Refused("the signing certificate URL does not name a .pem file")
    key = _certificates.get(url)
    if key is not None:
        return key
    try:
        with outbound_client(timeout=5.0) as client:
            response = client.get(url)
    except (DestinationRefused, OSError, Exception) as exc:
        raise Refused(f"the signing certificate could not be fetched: {exc}") from exc
    if response.status_code != 200:
        raise Refused(f"the signing certificate could not be fetched ({response.status_code})")
    try:
        public_key = x509.load_pem_x509_certificate(response.content).public_key()
    except ValueError as exc:
        raise Refused("the signing certificate is not a PEM certificate") from exc
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise Refused("the signing certificate does not hold an RSA key")
    if len(_certificates) >= MAX_CERTIFICATES:
        _certificates.clear()
    _certificates[url] = public_key
    return public_key


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = NOTIFICATION_FIELDS if message.get("Type") == "Notification" else SUBSCRIPTION_FIELDS
    return "".join(
        f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None
    ).encode()


def verify(message: dict[str, Any], topic_arns: list[str]) -> None:
    """Raise Refused unless the message is signed by SNS and comes from an expected topic."""
    for name in ("Type", "MessageId", "TopicArn", "Signature", "SigningCertURL", "Timestamp"):
        if not isinstance(message.get(name), str):
            raise Refused(f"the SNS message has no {name}")
    version = message.get("SignatureVersion")
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 (SNS's SignatureVersion 1 is SHA1withRSA)
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise Refused("the SNS message's SignatureVersion is not 1 or 2")
    key = _certificate_key(message["SigningCertURL"])
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError) as exc:
        raise Refused("the SNS signature does not match") from exc
    if message["TopicArn"] not in topic_arns:
        raise Refused("the message comes from a topic this provider is not set up for")


def confirm_subscription(message: dict[str, Any]) -> None:
    """Visit the SubscribeURL of a verified SubscriptionConfirmation, on an SNS host only."""
    url = message.get("SubscribeURL")
    if not isinstance(url, str):
        raise Refused("the subscription confirmation has no SubscribeURL")
    url = _aws_url(url, "SubscribeURL")
    try:
        with outbound_client(timeout=10.0) as client:
            response = client.get(url)
    except Exception as exc:
        raise Refused(f"the subscription could not be confirmed: {exc}") from exc
    if response.status_code != 200:
        raise Refused(f"the subscription could not be confirmed ({response.status_code})")


def parse_notification(message: dict[str, Any]) -> list[Feedback]:
    """An SES event (the event publishing or the notification format) as feedback items."""
    import json

    try:
        event = json.loads(message["Message"])
    except (ValueError, TypeError):
        return []
    if not isinstance(event, dict):
        return []
    kind = event.get("eventType") or event.get("notificationType")
    mail = event.get("mail") or {}
    tags = mail.get("tags") or {}
    tagged = tags.get("herald_message_id") if isinstance(tags, dict) else None
    herald = herald_id(tagged[0] if isinstance(tagged, list) and tagged else None)
    provider_id = mail.get("messageId")
    base = dict(
        provider="ses",
        herald_message_id=herald,
        provider_message_id=str(provider_id) if provider_id else None,
    )
    event_id = str(message["MessageId"])
    if kind == "Bounce":
        bounce = event.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        return [
            Feedback(
                event_id=event_id,
                kind="hard_bounce" if hard else "soft_bounce",
                data={
                    "bounce_type": str(bounce.get("bounceType", ""))[:64],
                    "bounce_subtype": str(bounce.get("bounceSubType", ""))[:64],
                },
                **base,  # type: ignore[arg-type]
            )
        ]
    if kind == "Complaint":
        complaint = event.get("complaint") or {}
        return [
            Feedback(
                event_id=event_id,
                kind="complaint",
                data={"feedback_type": str(complaint.get("complaintFeedbackType", ""))[:64]},
                **base,  # type: ignore[arg-type]
            )
        ]
    simple = {"Delivery": "delivered", "Open": "opened", "Click": "clicked"}.get(str(kind))
    if simple is not None:
        return [Feedback(event_id=event_id, kind=simple, **base)]  # type: ignore[arg-type]
    return []
