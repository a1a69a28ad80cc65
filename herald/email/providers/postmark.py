"""Postmark through its batch endpoint: up to 500 messages a request, each with its own
content, and an answer per message (its MessageID or its error code)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
from pydantic import BaseModel, ConfigDict, Field

from herald.email.providers.api import BatchSending, client_for, json_email, post, status_error
from herald.email.providers.base import (
    OnAccepted,
    Outcome,
    OutgoingEmail,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    SendResult,
    TransientSendError,
    report_accepted,
)

DEFAULT_ENDPOINT = "https://api.postmarkapp.com"
BATCH_LIMIT = 500
# Postmark's error codes (postmarkapp.com/developer/api/overview#error-codes) that stop the
# server or account rather than one message.
ACCOUNT_CODES = frozenset({10, 400, 401, 405, 412, 413, 414, 415})
# The recipient is inactive (hard bounced, complained or unsubscribed at Postmark).
INACTIVE_RECIPIENT = 406
INVALID_REQUEST = 300


class PostmarkConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    server_token: str = Field(min_length=1, max_length=512)
    # "outbound" (transactional) or a broadcast stream's id for marketing.
    message_stream: str = Field(default="outbound", min_length=1, max_length=100)
    endpoint_url: str | None = Field(default=None, max_length=500)
    # The user name and password to put in the webhook URL (https://user:pass@host/webhooks/...).
    webhook_username: str | None = Field(default=None, max_length=255)
    webhook_password: str | None = Field(default=None, max_length=255)
    timeout: float = Field(default=30.0, gt=0, le=120)
    # The selector of the DKIM record Postmark shows for the domain (like 20240101000000pm),
    # for the DNS check of Settings → Email.
    dkim_selector: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,63}$")

    @property
    def base_url(self) -> str:
        return (self.endpoint_url or DEFAULT_ENDPOINT).rstrip("/")


def _classify(code: int, text: str, http_status: int | None = None) -> SendError:
    if code in ACCOUNT_CODES:
        return ProviderUnavailable(f"Postmark {code}: {text}", code=http_status)
    if code == INACTIVE_RECIPIENT:
        return PermanentSendError(f"Postmark {code}: {text}", code=http_status, suppress=True)
    if code == INVALID_REQUEST and "address" in text.lower():
        return PermanentSendError(f"Postmark {code}: {text}", code=http_status, suppress=True)
    return PermanentSendError(f"Postmark {code}: {text}", code=http_status)


class PostmarkProvider(BatchSending):
    name = "postmark"

    def __init__(self, config: PostmarkConfig) -> None:
        self.config = config
        self.client = client_for(config.base_url, config.timeout)
        self.headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "X-Postmark-Server-Token": config.server_token,
        }

    def payload(self, email: OutgoingEmail) -> dict[str, object]:
        parts = json_email(email)
        item: dict[str, object] = {
            "From": parts.from_,
            "To": parts.to,
            "Subject": parts.subject,
            "MessageStream": self.config.message_stream,
            "Metadata": {"herald_message_id": str(email.message_id)},
            "Headers": [{"Name": n, "Value": v} for n, v in parts.headers],
        }
        if parts.html:
            item["HtmlBody"] = parts.html
        if parts.text:
            item["TextBody"] = parts.text
        if parts.reply_to:
            item["ReplyTo"] = parts.reply_to
        return item

    def _whole_request_error(self, response: httpx.Response) -> SendError:
        try:
            answer = response.json()
            code, text = int(answer.get("ErrorCode", 0)), str(answer.get("Message", ""))
        except (ValueError, AttributeError, TypeError):
            return status_error(response, response.text[:300])
        if response.status_code == 422 and code:
            return _classify(code, text, response.status_code)
        return status_error(response, f"{code} {text}")

    def _send_chunk(self, emails: Sequence[OutgoingEmail]) -> list[Outcome]:
        body = json.dumps([self.payload(e) for e in emails]).encode()
        try:
            response = post(
                self.client,
                self.config.base_url + "/email/batch",
                content=body,
                headers=self.headers,
            )
        except SendError as exc:
            return [exc] * len(emails)
        if response.status_code != 200:
            return [self._whole_request_error(response)] * len(emails)
        try:
            answers = response.json()
        except ValueError:
            answers = None
        if not isinstance(answers, list) or len(answers) != len(emails):
            error = TransientSendError(
                f"Postmark's answer does not match the batch: {response.text[:200]!r}",
                maybe_sent=True,
            )
            return [error] * len(emails)
        outcomes: list[Outcome] = []
        for answer in answers:
            code = int(answer.get("ErrorCode", -1)) if isinstance(answer, dict) else -1
            if code == 0 and answer.get("MessageID"):
                outcomes.append(SendResult(provider_message_id=str(answer["MessageID"])))
            else:
                text = str(answer.get("Message", "")) if isinstance(answer, dict) else ""
                outcomes.append(_classify(code, text))
        return outcomes

    def send_batch(
        self, emails: Sequence[OutgoingEmail], on_accepted: OnAccepted | None = None
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for start in range(0, len(emails), BATCH_LIMIT):
            answers = self._send_chunk(emails[start : start + BATCH_LIMIT])
            report_accepted(answers, on_accepted, range(start, start + len(answers)))
            outcomes.extend(answers)
        return outcomes

    def check(self, domain: str | None = None) -> str:
        """Whether the server token works: reads the server's settings."""
        try:
            response = self.client.get(self.config.base_url + "/server", headers=self.headers)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"cannot reach Postmark: {exc!r}") from exc
        if response.status_code != 200:
            raise self._whole_request_error(response)
        return f"the server token works (server {response.json().get('Name', '?')!r})"
