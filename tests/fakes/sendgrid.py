"""SendGrid's v3 Mail Send (and /v3/scopes) as documented: Bearer key, up to 1,000
personalizations a request, 202 with X-Message-Id, 400 with an `errors` list naming the field
(one invalid address refuses the whole request), 401/403, 429 and 5xx."""

from __future__ import annotations

import uuid

from tests.fakes.faults import Accepted, FakeState
from tests.fakes.http import Answer, FakeServer, Request

API_KEY = "SG.test-key"


class FakeSendGrid(FakeServer):
    def __init__(self, api_key: str = API_KEY) -> None:
        self.state = FakeState()
        self.api_key = api_key
        # Personalizations of each request taken.
        self.requests: list[int] = []
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Answer.json(
                401,
                {
                    "errors": [
                        {
                            "message": "The provided authorization grant is invalid, "
                            "expired, or revoked",
                            "field": None,
                        }
                    ]
                },
            )
        if request.path == "/v3/scopes" and request.method == "GET":
            return Answer.json(200, {"scopes": ["mail.send", "scopes.read"]})
        if request.path != "/v3/mail/send" or request.method != "POST":
            return Answer.json(404, {"errors": [{"message": "not found"}]})
        fault = self.state.current_fault()
        if fault == "hang":
            self.state.hang()
        if fault == "throttle":
            return Answer.json(429, {"errors": [{"message": "too many requests"}]})
        if fault == "5xx":
            return Answer.json(503, {"errors": [{"message": "service unavailable"}]})
        if fault == "suspended":
            return Answer.json(
                403,
                {"errors": [{"message": "access forbidden: account suspended"}]},
            )
        if fault == "unauthorized":
            return Answer.json(401, {"errors": [{"message": "Maximum credits exceeded"}]})
        body = request.json()
        personalizations = body["personalizations"]
        if not 1 <= len(personalizations) <= 1000:
            return Answer.json(
                400,
                {"errors": [{"message": "between 1 and 1000", "field": "personalizations"}]},
            )
        # SendGrid validates the whole request: one bad address refuses all of it.
        invalid = [
            {
                "message": "Does not contain a valid address.",
                "field": f"personalizations.{i}.to.0.email",
            }
            for i, p in enumerate(personalizations)
            if p["to"][0]["email"] in self.state.invalid or "@" not in p["to"][0]["email"]
        ]
        if invalid:
            return Answer.json(400, {"errors": invalid})
        message_id = uuid.uuid4().hex[:22]
        self.requests.append(len(personalizations))
        for personalization in personalizations:
            self.state.take(
                Accepted(
                    to=personalization["to"][0]["email"],
                    herald_message_id=personalization.get("custom_args", {}).get(
                        "herald_message_id"
                    ),
                    provider_message_id=message_id,
                    subject=personalization.get("subject") or body.get("subject", ""),
                )
            )
        return Answer(202, b"", {"X-Message-Id": message_id})
