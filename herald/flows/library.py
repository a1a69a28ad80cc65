"""Flow templates: the series a shop starts with, each a valid FlowDefinition.

Creating a flow from one (`POST /api/flows/from-template`) gives an editable draft. What the
library cannot know is left as the nil UUID: the email template of each email step, and the
segment of a segment trigger. Publishing refuses the nil UUID with a field error naming the step
(`definition.steps[2].email.template_id: choose an email template`), so the draft asks for them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from herald.flows.definition import FlowDefinition

# Stands for "not chosen yet" wherever a template would need a row of the organization.
UNCHOSEN = uuid.UUID(int=0)


@dataclass(frozen=True)
class LibraryFlow:
    key: str
    name: str
    description: str
    definition: FlowDefinition


def _email(step_id: str, subject: str, next_step: str | None) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "send_email",
        "name": subject,
        "email": {"template_id": str(UNCHOSEN), "subject": subject},
        "outputs": {"next": next_step},
    }


def _delay(step_id: str, amount: int, unit: str, next_step: str | None) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "delay",
        "delay": {"amount": amount, "unit": unit},
        "outputs": {"next": next_step},
    }


def _not_done_since_start(*metrics: str) -> dict[str, Any]:
    """'Has not done any of these since starting this flow', the filter that ends a series
    once the person did what it asks for."""
    return {
        "conditions": [
            {
                "type": "event",
                "metric": metric,
                "operator": "exactly",
                "value": 0,
                "window": {"type": "since_flow_start"},
            }
            for metric in metrics
        ]
    }


_CAN_RECEIVE_EMAIL = {"type": "consent", "channel": "email", "operator": "can_receive"}


def _welcome_series() -> dict[str, Any]:
    return {
        "trigger": {"type": "segment_entered", "segment_id": str(UNCHOSEN)},
        "reentry": {"mode": "once"},
        "start": "welcome",
        "steps": [
            _email("welcome", "Welcome to {{ organization.name }}", "wait-2d"),
            _delay("wait-2d", 2, "days", "story"),
            _email("story", "Why we started", "wait-3d"),
            _delay("wait-3d", 3, "days", "ordered"),
            {
                "id": "ordered",
                "type": "conditional_split",
                "name": "Ordered since joining?",
                "condition": {
                    "conditions": [
                        {
                            "type": "event",
                            "metric": "Placed Order",
                            "operator": "at_least",
                            "value": 1,
                            "window": {"type": "since_flow_start"},
                        }
                    ]
                },
                "outputs": {"yes": None, "no": "offer"},
            },
            _email("offer", "A little something for your first order", None),
        ],
    }


def _abandoned_cart() -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Started Checkout", "filters": []},
        "filters": _not_done_since_start("Placed Order"),
        "reentry": {"mode": "once_per_period", "period": {"amount": 7, "unit": "days"}},
        "start": "wait-4h",
        "steps": [
            _delay("wait-4h", 4, "hours", "reminder"),
            _email("reminder", "You left something in your cart", "wait-20h"),
            _delay("wait-20h", 20, "hours", "last-call"),
            _email("last-call", "Your cart is about to expire", None),
        ],
    }


def _browse_abandonment() -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Viewed Product", "filters": []},
        "filters": _not_done_since_start("Started Checkout", "Placed Order"),
        "reentry": {"mode": "once_per_period", "period": {"amount": 7, "unit": "days"}},
        "start": "wait-2h",
        "steps": [
            _delay("wait-2h", 2, "hours", "reminder"),
            _email("reminder", "Still thinking it over?", None),
        ],
    }


def _post_purchase() -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Placed Order", "filters": []},
        "reentry": {"mode": "every_time"},
        "start": "returning",
        "steps": [
            {
                "id": "returning",
                "type": "conditional_split",
                "name": "Ordered before?",
                "condition": {
                    "conditions": [
                        {
                            "type": "event",
                            "metric": "Placed Order",
                            "operator": "at_least",
                            "value": 2,
                        }
                    ]
                },
                "outputs": {"yes": "thanks-again", "no": "thanks-first"},
            },
            _email("thanks-again", "Thank you for coming back", "wait-14d"),
            _email("thanks-first", "Thank you for your first order", "wait-14d"),
            _delay("wait-14d", 14, "days", "review"),
            _email("review", "How are you getting on with your order?", None),
        ],
    }


def _win_back() -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Placed Order", "filters": []},
        # A newer order starts a newer enrolment; this one then leaves at the filter.
        "filters": _not_done_since_start("Placed Order"),
        "reentry": {"mode": "every_time"},
        "start": "wait-60d",
        "steps": [
            _delay("wait-60d", 60, "days", "miss-you"),
            _email("miss-you", "We miss you", "wait-30d"),
            _delay("wait-30d", 30, "days", "offer"),
            _email("offer", "Come back for 15% off", None),
        ],
    }


def _birthday() -> dict[str, Any]:
    return {
        "trigger": {
            "type": "date_property",
            "property": "birthday",
            "recurrence": "yearly",
            "offset_days": 0,
            "time_of_day": "09:00",
        },
        "filters": {"conditions": [_CAN_RECEIVE_EMAIL]},
        "reentry": {"mode": "every_time"},
        "start": "greeting",
        "steps": [
            _email("greeting", "Happy birthday, {{ profile.first_name | default('you') }}!", None)
        ],
    }


_LIBRARY: tuple[tuple[str, str, str, Any], ...] = (
    (
        "welcome_series",
        "Welcome series",
        "Three emails over five days to people who join a segment (your newsletter sign-ups); "
        "the third, an offer, only to those who have not ordered yet.",
        _welcome_series,
    ),
    (
        "abandoned_cart",
        "Abandoned cart",
        "Started Checkout, then 4 hours later a reminder and 20 hours after that a last call, "
        "unless they placed an order since starting the flow.",
        _abandoned_cart,
    ),
    (
        "browse_abandonment",
        "Browse abandonment",
        "A reminder two hours after someone viewed a product, unless they went on to check out "
        "or order; at most once a week per person.",
        _browse_abandonment,
    ),
    (
        "post_purchase",
        "Post-purchase thank-you",
        "A thank-you after every order (one for first-time buyers, one for returning ones), then "
        "a request for a review two weeks later.",
        _post_purchase,
    ),
    (
        "win_back",
        "Win-back",
        "60 days after someone's last order, 'we miss you', and 30 days later an offer; a new "
        "order ends it.",
        _win_back,
    ),
    (
        "birthday",
        "Birthday",
        "An email at 9:00 in their time zone on each birthday (the `birthday` property, a date).",
        _birthday,
    ),
)


def library() -> list[LibraryFlow]:
    return [
        LibraryFlow(key, name, description, FlowDefinition.model_validate(build()))
        for key, name, description, build in _LIBRARY
    ]


def library_flow(key: str) -> LibraryFlow | None:
    for flow in library():
        if flow.key == key:
            return flow
    return None
