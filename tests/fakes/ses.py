"""SES v2's error answers, for faults moto's server does not inject: the x-amzn-ErrorType
header and a JSON `message`, as the v2 API (REST-JSON) sends them. Successful sends are tested
against moto's server; this fake takes messages too, for the failover runs and the benchmark."""

from __future__ import annotations

import base64
import email
import uuid

from tests.fakes.faults import Accepted, FakeState
from tests.fakes.http import Answer, FakeServer, Request


def _error(status: int, kind: str, message: str) -> Answer:
    return Answer.json(status, {"message": message}, **{"x-amzn-ErrorType": kind})


IDENTITY = "acme.example"
# The Easy DKIM tokens SES keeps for IDENTITY.
DKIM_TOKENS = ["tok1aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "tok2bbbbbbbbbbbbbbbbbbbbbbbbbbbb"]


class FakeSes(FakeServer):
    def __init__(self) -> None:
        self.state = FakeState()
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return _error(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        if request.path == "/v2/email/list-configuration-sets":
            return Answer.json(200, {"ConfigurationSets": []})
        if request.path.startswith("/v2/email/identities/") and request.method == "GET":
            if request.path.rsplit("/", 1)[-1] != IDENTITY:
                return _error(404, "NotFoundException", "Email identity does not exist.")
            return Answer.json(
                200,
                {
                    "IdentityType": "DOMAIN",
                    "VerifiedForSendingStatus": True,
                    "DkimAttributes": {"Tokens": DKIM_TOKENS, "Status": "SUCCESS"},
                },
            )
        if request.path != "/v2/email/outbound-emails":
            return _error(404, "NotFoundException", "not found")
        fault = self.state.current_fault()
        if fault == "hang":
            self.state.hang()
        if fault == "throttle":
            return _error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
        if fault == "5xx":
            return _error(500, "InternalFailure", "An internal error occurred.")
        if fault == "suspended":
            return _error(400, "AccountSuspendedException", "The account has been suspended.")
        if fault == "unauthorized":
            return _error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        body = request.json()
        to = body["Destination"]["ToAddresses"][0]
        if to in self.state.invalid:
            return _error(400, "BadRequestException", f"Illegal address: {to}")
        raw = base64.b64decode(body["Content"]["Raw"]["Data"])
        parsed = email.message_from_bytes(raw)
        tags = {t["Name"]: t["Value"] for t in body.get("EmailTags", [])}
        message_id = f"0100{uuid.uuid4().hex}-000000"
        self.state.take(
            Accepted(
                to=to,
                herald_message_id=tags.get("herald_message_id"),
                provider_message_id=message_id,
                subject=str(parsed.get("Subject", "")),
            )
        )
        return Answer.json(200, {"MessageId": message_id})
