"""The MIME writer: headers mail clients read as written, parts that parse back intact."""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy

import pytest

from herald.email.mime import MimeParts, render_mime


def parts(**overrides: object) -> MimeParts:
    values: dict = {
        "message_id": uuid.uuid4(),
        "from_email": "shop@example.com",
        "from_name": 'Acme "Best" Shöp',
        "to_email": "ada@example.com",
        "subject": "Héllo Ada ✓ " + "news " * 20,
        "html": "<p>é</p>\n.\n" + "<a href='https://example.com/x?a=1&b=2'>link</a>\n" * 50,
        "text": "Hi é\r\n.dot\nline with = sign\n",
        "headers": {
            "List-Unsubscribe": f"<https://example.com/u/{'a' * 120}>, "
            f"<mailto:unsubscribe@example.com?subject={'b' * 80}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    values.update(overrides)
    return MimeParts(**values)


def test_long_list_unsubscribe_is_folded_not_encoded() -> None:
    source = parts()
    raw = render_mime(source)
    header_block = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unsubscribe = header_block.split("List-Unsubscribe: ", 1)[1].split("\r\nList-Unsubscribe-Post")[
        0
    ]
    assert "=?" not in unsubscribe
    assert all(len(line) <= 998 for line in header_block.split("\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert " ".join(str(parsed["List-Unsubscribe"]).split()) == source.headers["List-Unsubscribe"]


def test_parts_round_trip() -> None:
    source = parts()
    parsed = message_from_bytes(render_mime(source), policy=policy.default)
    assert parsed.defects == [] and all(part.defects == [] for part in parsed.walk())
    assert str(parsed["Subject"]) == source.subject
    assert parsed["From"].addresses[0].display_name == 'Acme "Best" Shöp'
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    assert html is not None and text is not None
    assert html.get_content().replace("\r\n", "\n") == source.html
    assert text.get_content().replace("\r\n", "\n") == source.text.replace("\r\n", "\n")
    assert str(parsed["X-Herald-Message-Id"]) == str(source.message_id)


def test_header_injection_is_refused() -> None:
    for subject in ("Hi\r\nBcc: victim@example.com", "Hé\nBcc: victim@example.com"):
        with pytest.raises(ValueError, match="line breaks"):
            render_mime(parts(subject=subject))
