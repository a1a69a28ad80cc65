"""Send gates: how a domain that sends through the ledger (campaigns) holds its messages back
or skips them at send time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.messaging import ledger
from herald.models import Message

# A campaign message held back because its campaign is paused is looked at again this much later
# (resuming the campaign kicks its messages at once).
HOLD_RECHECK = timedelta(minutes=5)

# Domains that send through the ledger can hold their messages back at send time: a paused
# campaign's message waits, a cancelled one's is skipped. Registered by source, as
# `@send_gate("campaign")`, so this module needs to know no sender. A verdict may depend on the
# message's source and source_id only: a batch asks once for each pair.
SendVerdict = Literal["send", "hold", "skip"]
SendGate = Callable[[Session, Message], SendVerdict]
_send_gates: dict[str, SendGate] = {}


def send_gate(source: str) -> Callable[[SendGate], SendGate]:
    def decorator(gate: SendGate) -> SendGate:
        _send_gates[source] = gate
        return gate

    return decorator


def _apply_gate(session: Session, message: Message, verdict: SendVerdict) -> str | None:
    """None to send; otherwise the message waits (as if it had not been claimed) or is skipped."""
    if verdict == "send":
        return None
    if verdict == "hold":
        message.status = ledger.QUEUED
        message.attempts -= 1
        message.heartbeat_at = None
        message.send_after = utcnow() + HOLD_RECHECK
        return "held"
    ledger.set_status(
        session, message, ledger.SKIPPED, data={"reason": f"{message.source} cancelled"}
    )
    return ledger.SKIPPED
