"""Amazon SES through its v2 API: each message goes as raw MIME (`SendEmail` with `Raw`
content), so the DKIM signature, List-Unsubscribe headers and tracking links Herald wrote arrive
as they are. SES's bulk call (`SendBulkEmail`) only takes SES templates, not finished messages,
so a batch is sent as parallel `SendEmail` calls over kept-alive connections.

Requests are signed by botocore (SigV4), not by hand; they go through Herald's guarded HTTP
client like every provider call.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field

from herald.email.providers.api import BatchSending, client_for, each_in_parallel, post
from herald.email.providers.base import (
    OnAccepted,
    Outcome,
    OutgoingEmail,
    PermanentSendError,
    ProviderUnavailable,
    SendError,
    TransientSendError,
)

SIGNING_NAME = "ses"  # SES v2 signs as "ses"
_REGION = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
# SES's error types (the x-amzn-ErrorType header) that stop the whole account, not one message.
ACCOUNT_ERRORS = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "MailFromDomainNotVerifiedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "AccessDeniedException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"TooManyRequestsException", "LimitExceededException", "ThrottlingException"}
)


class SesConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    region: str = Field(pattern=_REGION, max_length=32)
    access_key_id: str = Field(min_length=16, max_length=128)
    secret_access_key: str = Field(min_length=1, max_length=256)
    configuration_set: str | None = Field(default=None, max_length=64)
    # Left out: SES's public endpoint for the region.
    endpoint_url: str | None = Field(default=None, max_length=500)
    timeout: float = Field(default=20.0, gt=0, le=120)
    # The SNS topics whose notifications (bounces, complaints, deliveries) are accepted.
    sns_topic_arns: list[str] = Field(default_factory=list, max_length=10)
    # The Easy DKIM tokens SES shows for the sending domain (three CNAME records), for the DNS
    # check of Settings → Email.
    dkim_tokens: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,63}$")]] = Field(
        default_factory=list, max_length=10
    )

    @property
    def base_url(self) -> str:
        return (self.endpoint_url or f"https://email.{self.region}.amazonaws.com").rstrip("/")


def _error_type(raw: str | None) -> str:
    # "MessageRejected:http://internal.amazon.com/coral/..." or a bare name.
    return (raw or "").split(":", 1)[0].strip()


class SesProvider(BatchSending):
    name = "ses"

    def __init__(self, config: SesConfig) -> None:
        self.config = config
        self.client = client_for(config.base_url, config.timeout)
        self.credentials = Credentials(config.access_key_id, config.secret_access_key)

    def _signed(self, method: str, path: str, body: bytes) -> tuple[str, dict[str, str]]:
        url = self.config.base_url + path
        request = AWSRequest(
            method=method, url=url, data=body, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(self.credentials, SIGNING_NAME, self.config.region).add_auth(request)
        return url, {name: str(value) for name, value in request.headers.items()}

    def _error(self, status: int, error_type: str, message: str) -> SendError:
        text = f"{status} {error_type}: {message}".strip()
        if error_type in ACCOUNT_ERRORS or status in (401, 403):
            return ProviderUnavailable(text, code=status)
        if error_type in TRANSIENT_ERRORS or status == 429 or status >= 500:
            return TransientSendError(text, code=status)
        if error_type == "MessageRejected" and re.search(
            r"not verified|identit", message, re.IGNORECASE
        ):
            # The sender's address or domain is not verified in this account: no message from
            # it can go, whichever recipient.
            return ProviderUnavailable(text, code=status)
        return PermanentSendError(text, code=status, suppress=_invalid_address(message))

    def _call(self, method: str, path: str, payload: dict[str, object] | None) -> dict[str, Any]:
        body = json.dumps(payload).encode() if payload is not None else b""
        url, headers = self._signed(method, path, body)
        if method == "POST":
            response = post(self.client, url, content=body, headers=headers)
        else:
            from herald.email.providers.api import status_error

            try:
                response = self.client.request(method, url, headers=headers)
            except Exception as exc:
                raise TransientSendError(f"cannot reach {url}: {exc!r}") from exc
            if response.status_code >= 400 and not response.headers.get("x-amzn-ErrorType"):
                raise status_error(response, response.text[:300])
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text[:300]
            error_type = _error_type(response.headers.get("x-amzn-ErrorType"))
            raise self._error(response.status_code, error_type, message)
        try:
            value = response.json()
        except ValueError as exc:
            raise TransientSendError(
                f"SES answered {response.text[:200]!r}", maybe_sent=True
            ) from exc
        return value if isinstance(value, dict) else {}

    def _send_one(self, email: OutgoingEmail) -> str:
        payload: dict[str, object] = {
            "FromEmailAddress": email.envelope_from,
            "Destination": {"ToAddresses": list(email.envelope_to)},
            "Content": {"Raw": {"Data": base64.b64encode(email.mime).decode("ascii")}},
            # Bounce and complaint notifications carry the tags: they name the message.
            "EmailTags": [{"Name": "herald_message_id", "Value": str(email.message_id)}],
        }
        if self.config.configuration_set:
            payload["ConfigurationSetName"] = self.config.configuration_set
        answer = self._call("POST", "/v2/email/outbound-emails", payload)
        message_id = answer.get("MessageId")
        if not isinstance(message_id, str) or not message_id:
            raise TransientSendError(f"SES gave no MessageId: {answer!r}"[:300], maybe_sent=True)
        return message_id

    def send_batch(
        self, emails: Sequence[OutgoingEmail], on_accepted: OnAccepted | None = None
    ) -> list[Outcome]:
        return each_in_parallel(emails, self._send_one, on_accepted)

    def check(self, domain: str | None = None) -> str:
        """Whether the credentials work and the sending domain is an identity of the account
        (one signed call; without a domain, the account's configuration sets are listed)."""
        if not domain:
            self._call("POST", "/v2/email/list-configuration-sets", {})
            return f"signed in to SES in {self.config.region}"
        try:
            answer = self._call("GET", f"/v2/email/identities/{quote(domain, safe='')}", None)
        except PermanentSendError as exc:
            if exc.code == 404:
                raise ProviderUnavailable(
                    f"{domain} is not an identity of this SES account ({self.config.region}): "
                    "add and verify it in the SES console"
                ) from exc
            raise
        verified = answer.get("VerifiedForSendingStatus")
        return f"signed in to SES in {self.config.region}; {domain} " + (
            "is verified for sending" if verified else "is not verified for sending yet"
        )


def dkim_tokens_of(provider: SesProvider, domain: str) -> list[str]:
    """The Easy DKIM tokens SES keeps for the domain (one signed call), for the DNS check."""
    answer = provider._call("GET", f"/v2/email/identities/{quote(domain, safe='')}", None)
    attributes = answer.get("DkimAttributes")
    tokens = attributes.get("Tokens") if isinstance(attributes, dict) else None
    return [str(t) for t in tokens or [] if isinstance(t, str)]


def _invalid_address(message: str) -> bool:
    return bool(
        re.search(r"(invalid|illegal|bad).{0,20}address|address.{0,20}invalid", message, re.I)
    )
