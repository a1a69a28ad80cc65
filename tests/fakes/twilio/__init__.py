"""A fake Twilio on loopback that speaks the parts of Twilio's REST API Herald uses, the way
Twilio documents them:

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP basic auth (account SID, auth
  token), a form-encoded body (To, From or MessagingServiceSid, Body, MediaUrl repeated,
  StatusCallback); answers 201 with the message resource as JSON, or an error body
  `{"code", "message", "more_info", "status"}` (20003 bad credentials, 21211 invalid To, 21610
  the recipient opted out, 21606 a From that is not the account's).
- `GET /2010-04-01/Accounts/{AccountSid}.json`: the account resource.
- Status callbacks: for each accepted message with a StatusCallback, the reports Twilio would
  send (sent, then delivered or undelivered with an ErrorCode), form-encoded and signed with
  X-Twilio-Signature as Twilio signs them; they wait in `callbacks` until a test delivers them
  (`deliver_callbacks`), so a test decides when, how often and in which order they arrive.
- `inbound(...)`: a signed "a message comes in" webhook, as Twilio would post it.

Failures can be scripted: `fail_next` (status and code for the next requests), `opted_out`
numbers (21610), `undeliverable` numbers (30003 in the delivery report), `delay` seconds.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})\.json$")


def new_account_sid() -> str:
    return "AC" + secrets.token_hex(16)


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SentMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    status_callback: str | None
    accepted_at: float


@dataclass
class Callback:
    url: str
    params: dict[str, str]
    signature: str


@dataclass
class FakeTwilio:
    account_sid: str = field(default_factory=new_account_sid)
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    numbers: set[str] = field(default_factory=lambda: {"+14155550000", "+14155550001"})
    opted_out: set[str] = field(default_factory=set)
    undeliverable: set[str] = field(default_factory=set)
    fail_next: list[tuple[int, int]] = field(default_factory=list)
    delay: float = 0.0
    # Record status callbacks (off for benchmarks that only measure acceptance).
    callbacks_enabled: bool = True
    messages: list[SentMessage] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    # --- what the server does --------------------------------------------------------------

    def _authorized(self, header: str | None, sid: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == sid == self.account_sid and password == self.auth_token

    def create_message(self, sid: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
            if self.fail_next:
                status, code = self.fail_next.pop(0)
                return status, error(status, code, "scripted failure")
        to = (form.get("To") or [""])[0]
        from_ = (form.get("From") or [None])[0]
        service = (form.get("MessagingServiceSid") or [None])[0]
        body = (form.get("Body") or [""])[0]
        if not E164.match(to):
            return 400, error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ is None and service is None:
            return 400, error(400, 21603, "A 'From' or 'MessagingServiceSid' is required.")
        if from_ is not None and from_ not in self.numbers:
            return 400, error(400, 21606, f"The From phone number {from_} is not valid.")
        if not body and not form.get("MediaUrl"):
            return 400, error(400, 21602, "Message body is required.")
        if to in self.opted_out:
            return 400, error(400, 21610, "Attempt to send to unsubscribed recipient")
        message = SentMessage(
            sid=new_sid(),
            account_sid=sid,
            to=to,
            from_=from_ or sorted(self.numbers)[0],
            messaging_service_sid=service,
            body=body,
            media_urls=list(form.get("MediaUrl") or []),
            status_callback=(form.get("StatusCallback") or [None])[0],
            accepted_at=time.time(),
        )
        with self.lock:
            self.messages.append(message)
            if message.status_callback and self.callbacks_enabled:
                self.callbacks.append(self._callback(message, "sent"))
                if to in self.undeliverable:
                    self.callbacks.append(self._callback(message, "undelivered", "30003"))
                else:
                    self.callbacks.append(self._callback(message, "delivered"))
        return 201, {
            "sid": message.sid,
            "account_sid": sid,
            "to": to,
            "from": message.from_,
            "messaging_service_sid": service,
            "body": body,
            "status": "queued",
            "num_media": str(len(message.media_urls)),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message.sid}.json",
        }

    def _callback(self, message: SentMessage, status: str, code: str | None = None) -> Callback:
        params = {
            "AccountSid": message.account_sid,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": message.to,
            "From": message.from_ or "",
            "ApiVersion": "2010-04-01",
        }
        if code:
            params["ErrorCode"] = code
        assert message.status_callback is not None
        return Callback(message.status_callback, params, self.sign(message.status_callback, params))

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    # --- what tests use ---------------------------------------------------------------------

    def take_callbacks(self) -> list[Callback]:
        with self.lock:
            taken, self.callbacks = self.callbacks, []
        return taken

    def deliver_callbacks(self, post: Callable[[Callback], Any]) -> int:
        """Hand every waiting status callback to `post` (a TestClient call, an HTTP POST)."""
        taken = self.take_callbacks()
        for callback in taken:
            post(callback)
        return len(taken)

    def inbound(self, url: str, from_: str, body: str, to: str | None = None) -> Callback:
        """The webhook Twilio posts when `from_` texts `body` to one of the numbers."""
        params = {
            "MessageSid": new_sid(),
            "SmsSid": "",
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to or sorted(self.numbers)[0],
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        params["SmsSid"] = params["MessageSid"]
        return Callback(url, params, self.sign(url, params))


def error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if fake.delay:
                time.sleep(fake.delay)
            match = MESSAGES.match(self.path)
            if match is None:
                self._answer(404, error(404, 20404, "The requested resource was not found"))
                return
            if not self._authorized_for(match.group(1)):
                return
            status, body = fake.create_message(match.group(1), parse_qs(raw))
            self._answer(status, body)

        def do_GET(self) -> None:
            if self.path == "/_fake/stats":  # the fake's own, for benchmarks
                with fake.lock:
                    times = [m.accepted_at for m in fake.messages]
                    numbers = {m.to for m in fake.messages}
                self._answer(
                    200, {"accepted": len(times), "unique_to": len(numbers), "times": times}
                )
                return
            match = ACCOUNT.match(self.path)
            if match is None:
                self._answer(404, error(404, 20404, "The requested resource was not found"))
                return
            if not self._authorized_for(match.group(1)):
                return
            self._answer(
                200,
                {
                    "sid": fake.account_sid,
                    "friendly_name": "Fake Twilio account",
                    "status": "active",
                    "type": "Full",
                },
            )

        def _authorized_for(self, sid: str) -> bool:
            if fake._authorized(self.headers.get("Authorization"), sid):
                return True
            self._answer(401, error(401, 20003, "Authenticate"))
            return False

    return Handler


@contextmanager
def running_fake_twilio(fake: FakeTwilio | None = None) -> Iterator[FakeTwilio]:
    """Serve a fake Twilio on a free loopback port until the block ends."""
    fake = fake or FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    """Serve a fake Twilio in a process of its own (benchmarks): prints its URL, then serves
    until killed. `python -m tests.fakes.twilio ACCOUNT_SID AUTH_TOKEN [--callbacks]`."""
    import sys

    fake = FakeTwilio(account_sid=sys.argv[1], auth_token=sys.argv[2])
    fake.callbacks_enabled = "--callbacks" in sys.argv
    with running_fake_twilio(fake):
        print(fake.url, flush=True)
        threading.Event().wait()
