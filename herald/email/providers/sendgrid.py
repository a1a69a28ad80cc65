"""SendGrid through its v3 Mail Send API.

Mail Send takes fields, not MIME, and one body shared by every personalization of a request (its
per-personalization substitutions are capped at 10,000 bytes, far less than a rendered email).
Herald renders each message for its recipient (tracking and unsubscribe links are the
recipient's own), so each message is one personalization of its own request; a batch sends them
in parallel over kept-alive connections. Each request's X-Message-Id is that message's id, and
the message's Herald id rides along as a custom argument, which SendGrid's event webhook echoes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from email.utils import parseaddr

import httpx
from pydantic import BaseModel, ConfigDict, Field

from herald.email.providers.api import (
    BatchSending,
    client_for,
    each_in_parallel,
    json_email,
    post,
    status_error,
)
from herald.email.providers.base import (
    Outcome,
    OutgoingEmail,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    TransientSendError,
)

DEFAULT_ENDPOINT = "https://api.sendgrid.com"


class SendGridConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    api_key: str = Field(min_length=1, max_length=512)
    endpoint_url: str | None = Field(default=None, max_length=500)
    # The event webhook's verification key (Settings → Mail Settings → Signed Event Webhook),
    # base64 DER of an ECDSA P-256 public key, as SendGrid shows it.
    webhook_public_key: str | None = Field(default=None, max_length=2000)
    timeout: float = Field(default=20.0, gt=0, le=120)

    @property
    def base_url(self) -> str:
        return (self.endpoint_url or DEFAULT_ENDPOINT).rstrip("/")


def _address(value: str) -> dict[str, str]:
    name, address = parseaddr(value)
    return {"email": address, "name": name} if name else {"email": address}


def _errors(response: httpx.Response) -> list[dict[str, object]]:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)]


class SendGridProvider(BatchSending):
    name = "sendgrid"

    def __init__(self, config: SendGridConfig) -> None:
        self.config = config
        self.client = client_for(config.base_url, config.timeout)
        self.headers = {
            "Authorization": f"Bearer {config.api_key}",
            "Content-Type": "application/json",
        }

    def payload(self, email: OutgoingEmail) -> dict[str, object]:
        parts = json_email(email)
        content = []
        if parts.text:
            content.append({"type": "text/plain", "value": parts.text})
        if parts.html:
            content.append({"type": "text/html", "value": parts.html})
        personalization: dict[str, object] = {
            "to": [{"email": parts.to}],
            "custom_args": {"herald_message_id": str(email.message_id)},
        }
        payload: dict[str, object] = {
            "personalizations": [personalization],
            "from": _address(parts.from_),
            "subject": parts.subject,
            "content": content,
        }
        if parts.headers:
            payload["headers"] = dict(parts.headers)
        if parts.reply_to:
            payload["reply_to"] = _address(parts.reply_to)
        return payload

    def _error(self, response: httpx.Response) -> SendError:
        errors = _errors(response)
        detail = "; ".join(str(e.get("message", "")) for e in errors) or response.text[:300]
        code = response.status_code
        if code == 400 and any(
            str(e.get("field", "")).startswith("personalizations")
            and "email" in str(e.get("field", ""))
            for e in errors
        ):
            return PermanentSendError(f"{code} {detail}", code=code, suppress=True)
        if code == 403 or (code == 401 and "credits" not in detail.lower()):
            return ProviderUnavailable(f"{code} {detail}", code=code)
        if code == 401:  # "Maximum credits exceeded": the account, not the message
            return ProviderUnavailable(f"{code} {detail}", code=code)
        return status_error(response, detail)

    def _send_one(self, email: OutgoingEmail) -> str:
        body = json.dumps(self.payload(email)).encode()
        response = post(
            self.client, self.config.base_url + "/v3/mail/send", content=body, headers=self.headers
        )
        if response.status_code not in (200, 202):
            raise self._error(response)
        message_id: str | None = response.headers.get("X-Message-Id")
        if not message_id:
            raise TransientSendError("SendGrid gave no X-Message-Id", maybe_sent=True)
        return message_id

    def send_batch(self, emails: Sequence[OutgoingEmail]) -> list[Outcome]:
        return each_in_parallel(emails, self._send_one)

    def check(self, domain: str | None = None) -> str:
        """Whether the API key works and may send: reads the key's scopes."""
        try:
            response = self.client.get(self.config.base_url + "/v3/scopes", headers=self.headers)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"cannot reach SendGrid: {exc!r}") from exc
        if response.status_code != 200:
            raise self._error(response)
        scopes = response.json().get("scopes") or []
        if "mail.send" not in scopes:
            raise ProviderUnavailable("the API key may not send mail (no mail.send scope)")
        return "the API key works and may send mail"
