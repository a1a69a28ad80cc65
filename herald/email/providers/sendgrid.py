"""SendGrid through its v3 Mail Send API.

Mail Send takes fields, not MIME: one body (content, from, reply-to) per request, and up to 1,000
personalizations, each with its own recipient, subject, headers and custom arguments. Its
substitutions (at most 10,000 bytes a personalization, far less than a rendered email) cannot
carry Herald's per-recipient rendering, so only messages whose rendered bodies are identical
share a request, one personalization each (the same notice to many, without tracking); a message
whose body is its own (personalized, tracked, with its own unsubscribe link: every marketing
message) is a request of its own. A batch sends its requests in parallel over kept-alive
connections.

A request's X-Message-Id names every message it carried; each message's Herald id rides along as
a custom argument of its personalization, which SendGrid's event webhook echoes, so events find
their message. A 400 that names personalizations fails only those messages (SendGrid took
nothing from the request): the others go again in one more request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from email.utils import parseaddr

import httpx
from pydantic import BaseModel, ConfigDict, Field

from herald.email.providers.api import (
    BatchSending,
    JsonEmail,
    client_for,
    in_parallel,
    json_email,
    post,
    status_error,
)
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

DEFAULT_ENDPOINT = "https://api.sendgrid.com"
# Personalizations Mail Send takes in one request.
PERSONALIZATIONS = 1000


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


def _refused_personalizations(response: httpx.Response, count: int) -> dict[int, SendError]:
    """A 400 whose errors name personalizations (`personalizations.3.to.0.email`): the error
    of each, by index (an invalid address asks for suppression). Empty when any error is not
    about one personalization: then the whole request failed for a reason of its own."""
    if response.status_code != 400:
        return {}
    refused: dict[int, SendError] = {}
    errors = _errors(response)
    for error in errors:
        match = re.match(r"^personalizations\.(\d+)\.(.*)$", str(error.get("field") or ""))
        if match is None or int(match.group(1)) >= count:
            return {}
        index, field = int(match.group(1)), match.group(2)
        refused[index] = PermanentSendError(
            f"400 {error.get('message', '')} ({field})",
            code=400,
            suppress=field.startswith("to.") and field.endswith("email"),
        )
    return refused


class SendGridProvider(BatchSending):
    name = "sendgrid"

    def __init__(self, config: SendGridConfig) -> None:
        self.config = config
        self.client = client_for(config.base_url, config.timeout)
        self.headers = {
            "Authorization": f"Bearer {config.api_key}",
            "Content-Type": "application/json",
        }

    def payload(self, emails: Sequence[OutgoingEmail]) -> dict[str, object]:
        """One request for these emails, whose bodies (content, from, reply-to) are the same:
        a personalization each."""
        parts = [json_email(email) for email in emails]
        return self._payload(emails, parts)

    def _payload(
        self, emails: Sequence[OutgoingEmail], parts: Sequence[JsonEmail]
    ) -> dict[str, object]:
        first = parts[0]
        content = []
        if first.text:
            content.append({"type": "text/plain", "value": first.text})
        if first.html:
            content.append({"type": "text/html", "value": first.html})
        personalizations: list[dict[str, object]] = []
        for email, part in zip(emails, parts, strict=True):
            personalization: dict[str, object] = {
                "to": [{"email": part.to}],
                "custom_args": {"herald_message_id": str(email.message_id)},
            }
            if len(emails) > 1:
                personalization["subject"] = part.subject
                if part.headers:
                    personalization["headers"] = dict(part.headers)
            personalizations.append(personalization)
        payload: dict[str, object] = {
            "personalizations": personalizations,
            "from": _address(first.from_),
            "subject": first.subject,
            "content": content,
        }
        if len(emails) == 1 and first.headers:
            payload["headers"] = dict(first.headers)
        if first.reply_to:
            payload["reply_to"] = _address(first.reply_to)
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

    def _send_group(
        self, emails: Sequence[OutgoingEmail], parts: Sequence[JsonEmail]
    ) -> list[Outcome]:
        """One request for emails with the same body: an outcome for each."""
        body = json.dumps(self._payload(emails, parts)).encode()
        try:
            response = post(
                self.client,
                self.config.base_url + "/v3/mail/send",
                content=body,
                headers=self.headers,
            )
        except SendError as exc:
            return [exc] * len(emails)
        if response.status_code in (200, 202):
            message_id: str | None = response.headers.get("X-Message-Id")
            if not message_id:
                error = TransientSendError("SendGrid gave no X-Message-Id", maybe_sent=True)
                return [error] * len(emails)
            return [SendResult(provider_message_id=message_id) for _ in emails]
        refused = _refused_personalizations(response, len(emails)) if len(emails) > 1 else {}
        if not refused:
            return [self._error(response)] * len(emails)
        # SendGrid refused the whole request for these personalizations: they fail, and the
        # others (which it did not take either) go again without them.
        rest = [i for i in range(len(emails)) if i not in refused]
        again = (
            self._send_group([emails[i] for i in rest], [parts[i] for i in rest]) if rest else []
        )
        outcomes: list[Outcome] = []
        retried = iter(again)
        for i in range(len(emails)):
            outcomes.append(refused[i] if i in refused else next(retried))
        return outcomes

    def send_batch(
        self, emails: Sequence[OutgoingEmail], on_accepted: OnAccepted | None = None
    ) -> list[Outcome]:
        """Emails with the same body share requests (PERSONALIZATIONS at most); the others go
        one a request. The requests run in parallel."""
        parts = [json_email(email) for email in emails]
        groups: dict[tuple[str, str | None, str | None, str | None], list[int]] = {}
        for i, part in enumerate(parts):
            groups.setdefault((part.from_, part.reply_to, part.html, part.text), []).append(i)
        requests = [
            members[start : start + PERSONALIZATIONS]
            for members in groups.values()
            for start in range(0, len(members), PERSONALIZATIONS)
        ]
        answers = in_parallel(
            requests,
            lambda members: self._send_group(
                [emails[i] for i in members], [parts[i] for i in members]
            ),
            lambda request, answer: report_accepted(answer, on_accepted, requests[request]),
        )
        outcomes: list[Outcome | None] = [None] * len(emails)
        for members, answer in zip(requests, answers, strict=True):
            for i, outcome in zip(members, answer, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

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
