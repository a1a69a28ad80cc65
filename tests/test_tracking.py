"""Tracking links and unsubscribing: signed tokens, link wrapping, the open pixel, click redirects,
machine opens, one-click unsubscribe (RFC 8058), the preference page and its effect on segments."""

from __future__ import annotations

import re
import uuid

import pytest

from herald.messaging import tracking


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _flip(token: str, position: int) -> str:
    char = token[position]
    return token[:position] + ("A" if char != "A" else "B") + token[position + 1 :]


# --- tokens and links (no database) --------------------------------------------------------------


def test_urls_are_absolute_and_tokens_name_their_message() -> None:
    message_id = uuid.uuid4()
    for build, purpose in (
        (tracking.open_url, tracking.OPEN_PURPOSE),
        (tracking.unsubscribe_url, tracking.UNSUBSCRIBE_PURPOSE),
        (tracking.preferences_url, tracking.PREFERENCES_PURPOSE),
    ):
        url = build(message_id)
        assert url.startswith(tracking.base_url() + "/")
        assert tracking.read_message_token(purpose, _token(url)) == message_id
    url = tracking.click_url(message_id, "https://shop.example.com/a?b=1")
    assert tracking.read_click_token(_token(url)) == (message_id, "https://shop.example.com/a?b=1")


def test_tokens_cannot_be_used_for_another_purpose_or_message() -> None:
    message_id, other_id = uuid.uuid4(), uuid.uuid4()
    purposes = (
        tracking.OPEN_PURPOSE,
        tracking.UNSUBSCRIBE_PURPOSE,
        tracking.PREFERENCES_PURPOSE,
    )
    for made_for in purposes:
        token = tracking.message_token(made_for, message_id)
        for used_for in purposes:
            if used_for != made_for:
                with pytest.raises(tracking.InvalidToken):
                    tracking.read_message_token(used_for, token)
    # Another message's id with this message's signature.
    token = tracking.message_token(tracking.UNSUBSCRIBE_PURPOSE, message_id)
    other = tracking.message_token(tracking.UNSUBSCRIBE_PURPOSE, other_id)
    swapped = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(tracking.InvalidToken):
        tracking.read_message_token(tracking.UNSUBSCRIBE_PURPOSE, swapped)
    # A click token's URL with another message's id, and a click token as an unsubscribe token.
    click = tracking.click_token(message_id, "https://example.com/")
    moved = other.split(".")[0] + "." + ".".join(click.split(".")[1:])
    with pytest.raises(tracking.InvalidToken):
        tracking.read_click_token(moved)
    with pytest.raises(tracking.InvalidToken):
        tracking.read_message_token(tracking.UNSUBSCRIBE_PURPOSE, click)


def test_altered_or_malformed_tokens_are_refused() -> None:
    message_id = uuid.uuid4()
    token = tracking.message_token(tracking.OPEN_PURPOSE, message_id)
    for position in (0, 5, len(token) // 2, len(token) - 2):
        with pytest.raises(tracking.InvalidToken):
            tracking.read_message_token(tracking.OPEN_PURPOSE, _flip(token, position))
    for bad in ("", ".", "abc", "a.b", "a.b.c", token + ".x", "!!!." + token.split(".")[1]):
        with pytest.raises(tracking.InvalidToken):
            tracking.read_message_token(tracking.OPEN_PURPOSE, bad)
    click = tracking.click_token(message_id, "https://example.com/a")
    forged_url = tracking._b64encode(b"https://evil.example.com/")
    parts = click.split(".")
    with pytest.raises(tracking.InvalidToken):
        tracking.read_click_token(f"{parts[0]}.{forged_url}.{parts[2]}")
    for bad in ("", parts[0], f"{parts[0]}.{parts[1]}", click + ".x", _flip(click, len(click) - 3)):
        with pytest.raises(tracking.InvalidToken):
            tracking.read_click_token(bad)


def test_tokens_hold_no_address() -> None:
    message_id = uuid.uuid4()
    token = tracking.message_token(tracking.UNSUBSCRIBE_PURPOSE, message_id)
    id_part, signature = token.split(".")
    assert uuid.UUID(bytes=tracking._b64decode(id_part)) == message_id
    assert len(signature) == 43  # HMAC-SHA256, base64url


HTML = """<!doctype html><html><body>
<a href="https://shop.example.com/p?a=1&amp;b=2">Shop</a>
<A CLASS='x' HREF='http://example.com/two'>Two</A>
<a title="a > b" href=https://example.com/bare>Bare</a>
<a href="mailto:hi@example.com">Mail</a> <a href="tel:+14155550100">Call</a>
<a href="#top">Top</a> <a href="/relative">Relative</a> <a href="javascript:alert(1)">JS</a>
<a data-herald-notrack href="https://example.com/private">Private</a>
<a href="{unsubscribe}">Unsubscribe</a> <a href="{preferences}">Preferences</a>
<img src="https://cdn.example.com/i.png"> <link href="https://example.com/style.css">
<p>href="https://example.com/text"</p>
</body></html>"""


def _links(html: str) -> list[str]:
    tags = re.findall(r"""<a\s(?:[^>"']|"[^"]*"|'[^']*')*>""", html, re.IGNORECASE)
    href = re.compile(r"""\shref\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
    return [found.group(1) for tag in tags if (found := href.search(tag))]


def test_prepare_html_wraps_web_links_only() -> None:
    message_id = uuid.uuid4()
    unsubscribe = tracking.unsubscribe_url(message_id)
    preferences = tracking.preferences_url(message_id)
    source = HTML.format(unsubscribe=unsubscribe, preferences=preferences)
    prepared = tracking.prepare_html(source, message_id)
    links = _links(prepared)
    clicks = [link for link in links if "/t/c/" in link]
    targets = [tracking.read_click_token(_token(link))[1] for link in clicks]
    assert targets == [
        "https://shop.example.com/p?a=1&b=2",  # &amp; decoded before signing
        "http://example.com/two",
        "https://example.com/bare",
    ]
    for kept in (
        "mailto:hi@example.com",
        "tel:+14155550100",
        "#top",
        "/relative",
        "javascript:alert(1)",
        "https://example.com/private",
        unsubscribe,
        preferences,
    ):
        assert kept in links
    # Only <a> hrefs: images, stylesheets and text stay as they were.
    assert 'src="https://cdn.example.com/i.png"' in prepared
    assert 'href="https://example.com/style.css"' in prepared
    assert '<p>href="https://example.com/text"</p>' in prepared
    # The pixel, once, before </body>.
    pixel = tracking.open_url(message_id)
    assert prepared.count(pixel) == 1
    assert prepared.index(pixel) < prepared.index("</body>")


def test_prepare_html_options_and_pixel_placement() -> None:
    message_id = uuid.uuid4()
    source = '<p><a href="https://example.com/">x</a></p>'
    untouched = tracking.prepare_html(source, message_id, track_opens=False, track_clicks=False)
    assert untouched == source
    no_clicks = tracking.prepare_html(source, message_id, track_clicks=False)
    assert no_clicks.startswith(source) and no_clicks.endswith("/>")  # no </body>: at the end
    upper = tracking.prepare_html("<BODY>x</BODY >", message_id, track_clicks=False)
    assert upper.endswith("</BODY >") and tracking.open_url(message_id) in upper


def test_list_unsubscribe_headers() -> None:
    message_id = uuid.uuid4()
    mailbox = tracking.unsubscribe_mailbox("Acme News <news@Mail.Acme.com>")
    assert mailbox == "unsubscribe@mail.acme.com"
    headers = tracking.list_unsubscribe_headers(message_id, mailbox)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.fullmatch(r"<([^>]+)>, <([^>]+)>", headers["List-Unsubscribe"]).groups()  # type: ignore[union-attr]
    assert https == tracking.unsubscribe_url(message_id)
    assert mailto.startswith("mailto:unsubscribe@mail.acme.com?subject=unsubscribe%20")
    assert mailto.endswith(_token(https))


@pytest.mark.parametrize(
    ("agent", "ip", "machine"),
    [
        ("Mozilla/5.0", "203.0.113.9", True),  # Apple Mail Privacy Protection
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15",
            "17.58.0.1",
            True,
        ),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", None, True),
        ("Mozilla/5.0 (Windows NT 10.0) HeadlessChrome/120.0", None, True),
        ("Barracuda Sentinel (EE)", None, True),
        ("python-requests/2.31", None, True),
        (None, None, True),
        ("", "198.51.100.1", True),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
            "GoogleImageProxy)",
            "66.249.84.1",
            False,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148",
            "198.51.100.7",
            False,
        ),
        ("Microsoft Outlook 16.0.17029; Pro", "2001:db8::1", False),
    ],
)
def test_machine_opens(agent: str | None, ip: str | None, machine: bool) -> None:
    assert tracking.is_machine_open(agent, ip) is machine
