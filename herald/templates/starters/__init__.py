"""Starter templates: MJML files shipped in this package, each checked and compiled by the same
rules as a saved template (tests/test_template_starters.py renders every one)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from herald.errors import InvalidInput


@dataclass(frozen=True)
class Starter:
    key: str
    name: str
    description: str
    kind: str
    subject: str
    preheader: str

    @property
    def mjml(self) -> str:
        return _source(self.key)


STARTERS = (
    Starter(
        "newsletter",
        "Newsletter",
        "A header, a main story with a button and two stories side by side (stacked on phones).",
        "marketing",
        "{{ organization.name }}: the news this month",
        "Our main story, and two more",
    ),
    Starter(
        "product_announcement",
        "Product announcement",
        "A launch headline with a call to action and three features in columns.",
        "marketing",
        "New from {{ organization.name }}",
        "See it first",
    ),
    Starter(
        "abandoned_cart",
        "Abandoned cart",
        "For the abandoned-cart flow: lists the Started Checkout event's items (name, quantity, "
        "price, image_url), its value and a button to event.checkout_url.",
        "marketing",
        "{{ profile.first_name | default('Hi') }}, you left something in your cart",
        "Your cart is saved",
    ),
    Starter(
        "welcome",
        "Welcome",
        "A greeting by first name, three first steps and a button.",
        "marketing",
        "Welcome to {{ organization.name }}, {{ profile.first_name | default('friend') }}",
        "Here is how to get started",
    ),
    Starter(
        "order_confirmation",
        "Order confirmation",
        "A receipt from the send's data (order_id, items, total, currency, shipping_address), "
        "or from a Placed Order event's properties in a flow.",
        "transactional",
        "Your {{ organization.name }} order {{ data.order_id | default('') }} is confirmed",
        "Thanks for your order",
    ),
)
BY_KEY = {starter.key: starter for starter in STARTERS}


@cache
def _source(key: str) -> str:
    filename = key.replace("_", "-") + ".mjml"
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


def get_starter(key: str, field: str = "starter") -> Starter:
    starter = BY_KEY.get(key)
    if starter is None:
        raise InvalidInput.for_field(field, "is not a starter: use one of " + ", ".join(BY_KEY))
    return starter
