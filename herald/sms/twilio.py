"""Twilio's REST API: send a message (Messages, form-encoded), read the account (the settings'
"check connection"), and verify the signatures of the webhooks Twilio sends.

Errors: 429, 5xx, timeouts and dropped connections are transient (the ledger retries them with
its backoff); any other 4xx is permanent and carries Twilio's error code, e.g. 21211 (not a
valid number) or 21610 (the recipient replied STOP to the carrier: the caller records an
opt-out). Twilio has no idempotency key on Messages; see docs/sms.md for how a crash between
Twilio's answer and its record is caught by the status callback instead.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from herald.email.providers.base import PermanentSendError, SendResult, TransientSendError
from herald.outbound import DestinationRefused, outbound_client
from herald.settings import get_settings

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
# The recipient opted out at the carrier (replied STOP to one of the account's numbers).
OPTED_OUT_CODE = 21610
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str


@dataclass(frozen=True)
class OutgoingSms:
    """One SMS ready to go: the body is final (personalized, links shortened, opt-out line)."""

    message_id: uuid.UUID
    org_id: uuid.UUID
    idempotency_key: str
    to: str
    body: str
    # A sender number, or None to let the Messaging Service pick one.
    from_number: str | None
    messaging_service_sid: str | None
    status_callback: str | None = None
    media_urls: Sequence[str] = field(default_factory=tuple)


class OptedOut(PermanentSendError):
    """Twilio refused because the recipient opted out at the carrier (21610)."""


_shared_lock = threading.Lock()
_shared: dict[tuple[str, str, str], httpx.Client] = {}
# Accounts whose pooled connections a process keeps (more are dropped and reconnected).
MAX_SHARED = 64


def shared_http(credentials: TwilioCredentials) -> httpx.Client:
    """A pooled HTTP client per account (and API address) for this process: batch after batch
    reuses its connections. httpx clients are safe to share between threads."""
    key = (api_base(), credentials.account_sid, credentials.auth_token)
    with _shared_lock:
        client = _shared.get(key)
        if client is None:
            if len(_shared) >= MAX_SHARED:
                for old in _shared.values():
                    old.close()
                _shared.clear()
            client = _shared[key] = outbound_client(timeout=TIMEOUT_SECONDS)
        return client


def api_base() -> str:
    return get_settings().twilio_api_url.rstrip("/")


class TwilioClient:
    """One account's calls; holds one pooled HTTP connection for a batch of sends."""

    name = "twilio"

    def __init__(self, credentials: TwilioCredentials, http: httpx.Client | None = None) -> None:
        self.credentials = credentials
        self._http = http

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = outbound_client(timeout=TIMEOUT_SECONDS)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _url(self, path: str) -> str:
        return f"{api_base()}/{API_VERSION}/Accounts/{self.credentials.account_sid}{path}"

    def _request(
        self, method: str, path: str, data: Mapping[str, str | list[str]] | None = None
    ) -> dict[str, Any]:
        auth = (self.credentials.account_sid, self.credentials.auth_token)
        try:
            response = self._client().request(method, self._url(path), data=data, auth=auth)
        except DestinationRefused as exc:
            raise PermanentSendError(f"Twilio's address is refused: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise TransientSendError(f"Twilio did not answer in time ({exc!r})") from exc
        except httpx.TransportError as exc:
            raise TransientSendError(f"could not reach Twilio ({exc!r})") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(
                f"Twilio answered {response.status_code}: {_error_text(response)}",
                code=_error_code(response),
            )
        if response.status_code >= 400:
            code = _error_code(response)
            error = OptedOut if code == OPTED_OUT_CODE else PermanentSendError
            raise error(
                f"Twilio refused the message ({code or response.status_code}): "
                f"{_error_text(response)}",
                code=code,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientSendError("Twilio answered with something other than JSON") from exc
        return body if isinstance(body, dict) else {}

    def send(self, sms: OutgoingSms, /) -> SendResult:
        form: dict[str, str | list[str]] = {"To": sms.to, "Body": sms.body}
        if sms.messaging_service_sid:
            form["MessagingServiceSid"] = sms.messaging_service_sid
        if sms.from_number:
            form["From"] = sms.from_number
        if sms.status_callback:
            form["StatusCallback"] = sms.status_callback
        if sms.media_urls:
            form["MediaUrl"] = list(sms.media_urls)
        answer = self._request("POST", "/Messages.json", form)
        sid = answer.get("sid")
        if not isinstance(sid, str) or not sid:
            raise TransientSendError("Twilio's answer has no message sid")
        return SendResult(provider_message_id=sid)

    def account(self) -> dict[str, Any]:
        """The account resource (GET /Accounts/{sid}.json): proves the credentials work."""
        return self._request("GET", ".json")


def _error_body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(response: httpx.Response) -> int | None:
    code = _error_body(response).get("code")
    return code if isinstance(code, int) else None


def _error_text(response: httpx.Response) -> str:
    message = _error_body(response).get("message")
    return str(message) if message else response.text[:300]


def valid_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Whether a webhook came from Twilio: its X-Twilio-Signature over the URL Twilio called
    and the form's parameters, checked by Twilio's own library."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def signature_for(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """What Twilio sends as X-Twilio-Signature for this request (the fake Twilio signs so)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))
