"""Postmark's /email/batch (and /server) as documented: X-Postmark-Server-Token, a 200 with an
answer per message (ErrorCode 0 and a MessageID, or 406 inactive recipient, 300 invalid), 401,
422 with an account ErrorCode (10 bad token, 405 not allowed to send), 429 and 5xx."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.fakes.faults import Accepted, FakeState
from tests.fakes.http import Answer, FakeServer, Request

SERVER_TOKEN = "pm-test-token"


class FakePostmark(FakeServer):
    def __init__(self, token: str = SERVER_TOKEN) -> None:
        self.state = FakeState()
        self.token = token
        self.batches: list[int] = []
        super().__init__(self.answer)

    def answer(self, request: Request) -> Answer:
        if request.headers.get("x-postmark-server-token") != self.token:
            return Answer.json(
                401,
                {
                    "ErrorCode": 10,
                    "Message": "The Server Token you provided in the X-Postmark-Server-Token "
                    "request header was invalid.",
                },
            )
        if request.path == "/server" and request.method == "GET":
            return Answer.json(200, {"ID": 1, "Name": "Herald test server"})
        if request.path != "/email/batch" or request.method != "POST":
            return Answer.json(404, {"ErrorCode": 404, "Message": "not found"})
        fault = self.state.current_fault()
        if fault == "hang":
            self.state.hang()
        if fault == "throttle":
            return Answer.json(429, {"ErrorCode": 429, "Message": "Rate limit exceeded"})
        if fault == "5xx":
            return Answer.json(500, {"ErrorCode": 500, "Message": "Internal server error"})
        if fault == "suspended":
            return Answer.json(
                422,
                {
                    "ErrorCode": 405,
                    "Message": "Not allowed to send: your account has been suspended.",
                },
            )
        if fault == "unauthorized":
            return Answer.json(422, {"ErrorCode": 10, "Message": "Bad or missing API token"})
        items = request.json()
        self.batches.append(len(items))
        answers = []
        for item in items:
            to = item["To"]
            if to in self.state.invalid:
                answers.append(
                    {
                        "ErrorCode": 406,
                        "Message": "You tried to send to recipient(s) that have been marked as "
                        f"inactive. Found inactive addresses: {to}.",
                    }
                )
                continue
            message_id = str(uuid.uuid4())
            self.state.take(
                Accepted(
                    to=to,
                    herald_message_id=(item.get("Metadata") or {}).get("herald_message_id"),
                    provider_message_id=message_id,
                    subject=item.get("Subject", ""),
                )
            )
            answers.append(
                {
                    "ErrorCode": 0,
                    "Message": "OK",
                    "MessageID": message_id,
                    "SubmittedAt": datetime.now(UTC).isoformat(),
                    "To": to,
                }
            )
        return Answer.json(200, answers)
