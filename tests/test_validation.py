"""Email addresses: Herald's answer is email-validator's (lowercased), fast path or not."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.validation import normalize_email

# Shapes around the plain one: other characters, dots and hyphens in odd places, Punycode,
# special-use and numeric top-level domains, long parts.
LOCAL = st.from_regex(r"[A-Za-z0-9_+.\-!#$%&'*/=?^`{|}~\"]{1,70}", fullmatch=True)
LABEL = st.from_regex(r"[A-Za-z0-9\-]{1,66}|xn--[a-z0-9]{1,8}", fullmatch=True)
TLD = st.sampled_from(
    [
        "com",
        "org",
        "co",
        "c",
        "museum",
        "COM",
        "local",
        "test",
        "onion",
        "arpa",
        "invalid",
        "localhost",
        "123",
        "co1",
        "xn--p1ai",
        "x-y",
    ]
)
ADDRESS = st.builds(
    lambda local, labels, tld, space: f"{space}{local}@{'.'.join([*labels, tld])}{space}",
    LOCAL,
    st.lists(LABEL, min_size=0, max_size=4),
    TLD,
    st.sampled_from(["", " "]),
)


def reference(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def herald(value: str) -> str | None:
    try:
        return normalize_email(value)
    except ValueError:
        return None


@settings(max_examples=3000, deadline=None)
@given(ADDRESS | st.text(max_size=80))
def test_every_address_gets_email_validators_answer(value: str) -> None:
    assert herald(value) == reference(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ada.Lovelace+news@Example.COM", "ada.lovelace+news@example.com"),
        ("  grace@navy.mil ", "grace@navy.mil"),
        ("a@x.xn--p1ai", "a@x.рф"),
        ("a@ab--cd.com", None),
        ("a@x.test", None),
        ("a..b@example.com", None),
        ("a@-x.com", None),
        (f"{'a' * 65}@example.com", f"{'a' * 65}@example.com"),  # email-validator's call
        (f"a@{'b' * 64}.com", None),
        ("a@localhost", None),
    ],
)
def test_addresses_on_both_sides_of_the_plain_shape(value: str, expected: str | None) -> None:
    assert herald(value) == expected == reference(value)
