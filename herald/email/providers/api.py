"""What the HTTP API providers (SES, SendGrid, Postmark) share: one guarded client per endpoint
and process, requests sent a few at a time in parallel, and the sorting of HTTP failures into
the three kinds the send path acts on (docs/email.md, "How errors are classified").

Every request goes through `herald.outbound`'s guarded client: the endpoint is the provider's
public one unless the organization names another (a regional or private endpoint, a test
server), and a named one must not reach loopback, private or metadata addresses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TypeVar

import httpx

from herald.email.mime import (
    HERALD_MESSAGE_ID,
    ParsedEmail,
    ascii_address,
    display_address,
    parse,
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
from herald.outbound import DestinationRefused, outbound_client

# Requests one batch keeps in flight at once for providers whose API takes one message a call.
PARALLEL_REQUESTS = 8
# Headers Herald writes that a JSON API sets itself or must not be given twice.
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "reply-to",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "dkim-signature",
        "message-id",
        "cc",
        "bcc",
    }
)

_clients: dict[tuple[str, float], httpx.Client] = {}
_clients_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS, thread_name_prefix="email-api")


def client_for(base_url: str, timeout: float) -> httpx.Client:
    """A keep-alive client for this endpoint, shared by every batch in the process."""
    key = (base_url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = outbound_client(timeout)
            _clients[key] = client
        return client


def close_clients() -> None:
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def post(
    client: httpx.Client, url: str, *, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST, turning failures to connect into errors that say whether anything may have been
    sent: a connection never made sent nothing; one lost after the request was written may have."""
    try:
        return client.post(url, content=content, headers=headers)
    except DestinationRefused as exc:
        raise ProviderUnavailable(f"the endpoint may not be called: {exc}") from exc
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise TransientSendError(f"cannot connect to {url}: {exc!r}") from exc
    except httpx.HTTPError as exc:  # read timeout, dropped connection: the request went out
        raise TransientSendError(f"no answer from {url}: {exc!r}", maybe_sent=True) from exc


def status_error(response: httpx.Response, detail: str) -> SendError:
    """The usual meaning of an HTTP status when the provider gives nothing more precise."""
    code = response.status_code
    text = f"{code} {detail}".strip()
    if code in (401, 403):
        return ProviderUnavailable(text, code=code)
    if code == 429 or code >= 500 or code == 408:
        return TransientSendError(text, code=code)
    return PermanentSendError(text, code=code)


def each_in_parallel(
    emails: Sequence[OutgoingEmail],
    send_one: Callable[[OutgoingEmail], str],
    on_accepted: OnAccepted | None = None,
) -> list[Outcome]:
    """Send each email with `send_one` (which returns the provider's message id), a few at a
    time; each email gets its own outcome, and `on_accepted` hears of each accepted one as its
    call returns (not when the whole batch has)."""

    def attempt(email: OutgoingEmail) -> Outcome:
        try:
            return SendResult(provider_message_id=send_one(email))
        except SendError as exc:
            return exc
        except Exception as exc:  # a bug or an unexpected answer: it may have been taken
            return TransientSendError(repr(exc), maybe_sent=True)

    def done(index: int, outcome: Outcome) -> None:
        report_accepted([outcome], on_accepted, [index])

    return in_parallel(emails, attempt, done)


Item = TypeVar("Item")
Result = TypeVar("Result")


def in_parallel(
    items: Sequence[Item],
    call: Callable[[Item], Result],
    on_done: Callable[[int, Result], None] | None = None,
) -> list[Result]:
    """`call` for each item, PARALLEL_REQUESTS at a time, the results in order. `on_done` runs
    in the calling thread for each item as soon as its call returns (the hand-off journal is
    written there, before later calls finish)."""
    if len(items) <= 1:  # one call: no thread
        results = [call(item) for item in items]
        for index, result in enumerate(results):
            if on_done is not None:
                on_done(index, result)
        return results
    futures = {_pool.submit(call, item): index for index, item in enumerate(items)}
    answers: dict[int, Result] = {}
    for future in as_completed(futures):
        index = futures[future]
        answers[index] = future.result()
        if on_done is not None:
            on_done(index, answers[index])
    return [answers[index] for index in range(len(items))]


class BatchSending:
    """For providers whose real call is `send_batch`: one message is a batch of one."""

    def send_batch(
        self, emails: Sequence[OutgoingEmail], on_accepted: OnAccepted | None = None
    ) -> list[Outcome]:
        """Each email's outcome; `on_accepted` hears of accepted ones as each call returns."""
        raise NotImplementedError

    def send(self, email: OutgoingEmail) -> SendResult:
        outcome = self.send_batch([email])[0]
        if isinstance(outcome, SendError):
            raise outcome
        return outcome


@dataclass(frozen=True)
class JsonEmail:
    """A rendered message taken apart for the APIs that want fields rather than MIME."""

    from_: str
    to: str
    subject: str
    reply_to: str | None
    html: str | None
    text: str | None
    headers: list[tuple[str, str]]


def json_email(email: OutgoingEmail) -> JsonEmail:
    """The message's fields: as it was built when the send path says, else read from its MIME."""
    if email.parts is not None:
        parts = email.parts
        return JsonEmail(
            from_=display_address(parts.from_name, ascii_address(parts.from_email)),
            to=email.envelope_to[0] if email.envelope_to else ascii_address(parts.to_email),
            subject=parts.subject,
            reply_to=parts.reply_to,
            html=parts.html,
            text=parts.text or None,
            headers=[(HERALD_MESSAGE_ID, str(parts.message_id)), *parts.headers.items()],
        )
    parsed: ParsedEmail = parse(email.mime)
    reply_to = next((v for n, v in parsed.headers if n.lower() == "reply-to"), None)
    return JsonEmail(
        from_=parsed.from_ or email.envelope_from,
        to=email.envelope_to[0] if email.envelope_to else (parsed.to or ""),
        subject=parsed.subject or "",
        reply_to=reply_to,
        html=parsed.html,
        text=parsed.text,
        headers=[(n, v) for n, v in parsed.headers if n.lower() not in _OWN_HEADERS],
    )
