"""Tracking links and unsubscribing: signed tokens, link wrapping, the open pixel, click redirects,
machine opens, one-click unsubscribe (RFC 8058), the preference page and its effect on segments."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.messaging import tracking
from herald.models import Consent, Message, MessageEvent, Suppression
from herald.security import b64url
from herald.segments import service as segments
from tests.factories import OrgFixture, make_org, sign_in


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
    for position in range(len(token)):
        if token[position] == ".":
            continue
        with pytest.raises(tracking.InvalidToken):
            tracking.read_message_token(tracking.OPEN_PURPOSE, _flip(token, position))
    for bad in ("", ".", "abc", "a.b", "a.b.c", token + ".x", "!!!." + token.split(".")[1]):
        with pytest.raises(tracking.InvalidToken):
            tracking.read_message_token(tracking.OPEN_PURPOSE, bad)
    click = tracking.click_token(message_id, "https://example.com/a")
    forged_url = b64url(b"https://evil.example.com/")
    parts = click.split(".")
    with pytest.raises(tracking.InvalidToken):
        tracking.read_click_token(f"{parts[0]}.{forged_url}.{parts[2]}")
    for bad in ("", parts[0], f"{parts[0]}.{parts[1]}", click + ".x"):
        with pytest.raises(tracking.InvalidToken):
            tracking.read_click_token(bad)
    for position in range(len(click)):
        if click[position] != ".":
            with pytest.raises(tracking.InvalidToken):
                tracking.read_click_token(_flip(click, position))


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


def test_wrapped_links_are_the_click_urls() -> None:
    message_id = uuid.uuid4()
    url = "https://example.com/p?q=1"
    prepared = tracking.prepare_html(f'<a href="{url}">x</a>', message_id)
    assert tracking.click_url(message_id, url) in prepared


def test_hrefs_are_read_as_browsers_read_them() -> None:
    message_id = uuid.uuid4()
    cases = {
        "https://e.com/?a=1&amp;b=2": "https://e.com/?a=1&b=2",
        "https://e.com/?a=1&b=2": "https://e.com/?a=1&b=2",
        "https://e.com/?a=1&not=2": "https://e.com/?a=1&not=2",  # no ";": not a reference
        "https://e.com/?x=&#38;&amp;lt;": "https://e.com/?x=&&lt;",
        "  https://e.com/space  ": "https://e.com/space",
    }
    for written, meant in cases.items():
        prepared = tracking.prepare_html(f'<a href="{written}">x</a>', message_id)
        (link,) = _links(prepared)
        assert tracking.read_click_token(_token(link))[1] == meant, written
    # An "href=" inside another attribute's value is not the link.
    tricky = """<a title="see href='https://no.example.com/'" href="https://yes.example.com/">"""
    prepared = tracking.prepare_html(tricky, message_id)
    (token,) = re.findall(r'/t/c/([^"]+)"', prepared)
    assert tracking.read_click_token(token)[1] == "https://yes.example.com/"
    assert "href='https://no.example.com/'" in prepared


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


# --- the public routes ---------------------------------------------------------------------------


def make_message(
    database: Database,
    org: OrgFixture,
    to_address: str,
    profile_id: uuid.UUID | None = None,
) -> uuid.UUID:
    with database.transaction() as session:
        message = Message(
            org_id=org.org_id,
            profile_id=profile_id,
            channel="email",
            source="campaign",
            marketing=True,
            idempotency_key=f"test:{uuid.uuid4()}",
            to_address=to_address,
            status="sent",
        )
        session.add(message)
        session.flush()
        return message.id


def events(database: Database, message_id: uuid.UUID, kind: str) -> list[MessageEvent]:
    with database.transaction() as session:
        rows = session.scalars(
            sa.select(MessageEvent)
            .where(MessageEvent.message_id == message_id, MessageEvent.kind == kind)
            .order_by(MessageEvent.at)
        )
        result = list(rows)
        session.expunge_all()
        return result


def suppressions(database: Database, org: OrgFixture) -> list[tuple[str, str, str]]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(Suppression.address, Suppression.reason, Suppression.source).where(
                Suppression.org_id == org.org_id
            )
        )
        return [tuple(row) for row in rows]


def path(url: str) -> str:
    return url.removeprefix(tracking.base_url())


HUMAN = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/121.0"}


def test_open_pixel_records_opens_and_flags_machines(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    message_id = make_message(database, org, "reader@example.com")
    url = path(tracking.open_url(message_id))
    human = client.get(url, headers=HUMAN)
    assert human.status_code == 200 and human.headers["content-type"] == "image/gif"
    assert human.content.startswith(b"GIF89a")
    assert "no-store" in human.headers["cache-control"]
    assert client.get(url, headers={"User-Agent": "Mozilla/5.0"}).status_code == 200
    opens = events(database, message_id, "opened")
    assert [event.machine for event in opens] == [False, True]
    assert opens[0].org_id == org.org_id
    assert opens[0].data["user_agent"] == HUMAN["User-Agent"]

    # Forged, altered and other-purpose tokens still get the image and record nothing.
    token = _token(url)
    for bad in (
        _flip(token, len(token) - 2),
        "nonsense",
        tracking.message_token(tracking.UNSUBSCRIBE_PURPOSE, message_id),
        tracking.message_token(tracking.OPEN_PURPOSE, uuid.uuid4()),  # no such message
    ):
        response = client.get(f"/t/o/{bad}", headers=HUMAN)
        assert response.status_code == 200 and response.content.startswith(b"GIF89a")
    assert len(events(database, message_id, "opened")) == 2


def test_click_redirects_only_to_the_messages_urls(client: TestClient, database: Database) -> None:
    org = make_org()
    message_id = make_message(database, org, "reader@example.com")
    html = '<body><a href="https://shop.example.com/sale?a=1&amp;b=2">Sale</a></body>'
    prepared = tracking.prepare_html(html, message_id)
    (link,) = [link for link in _links(prepared) if "/t/c/" in link]
    response = client.get(path(link), headers=HUMAN, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example.com/sale?a=1&b=2"
    (clicked,) = events(database, message_id, "clicked")
    assert clicked.data["url"] == "https://shop.example.com/sale?a=1&b=2"
    assert clicked.machine is False

    token = _token(link)
    id_part, _url_part, signature = token.split(".")
    elsewhere = b64url(b"https://evil.example.com/")
    other_message = tracking.click_token(uuid.uuid4(), "https://shop.example.com/sale?a=1&b=2")
    for bad in (
        f"{id_part}.{elsewhere}.{signature}",  # a URL the message did not contain
        _flip(token, len(token) - 2),
        f"{other_message.split('.')[0]}.{_url_part}.{signature}",
        tracking.message_token(tracking.OPEN_PURPOSE, message_id),
        "x",
    ):
        refused = client.get(f"/t/c/{bad}", follow_redirects=False)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "invalid_link"
    assert len(events(database, message_id, "clicked")) == 1


def test_get_unsubscribe_changes_nothing_and_one_click_post_unsubscribes(
    client: TestClient, database: Database
) -> None:
    org = make_org(name="Acme <Shop> & Co")
    message_id = make_message(database, org, "Reader@Example.com")
    url = path(tracking.unsubscribe_url(message_id))
    page = client.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Acme &lt;Shop&gt; &amp; Co" in page.text and "<Shop>" not in page.text
    assert "Reader@Example.com" in page.text and '<form method="post">' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get(url).status_code == 200
    assert suppressions(database, org) == []
    assert events(database, message_id, "unsubscribed") == []

    # RFC 8058: a cookie-less form POST with List-Unsubscribe=One-Click, as mailbox providers send.
    client.cookies.clear()
    one_click = client.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200, one_click.text
    assert suppressions(database, org) == [("reader@example.com", "unsubscribe", "one-click")]
    assert len(events(database, message_id, "unsubscribed")) == 1
    # Again (providers retry), and as multipart: nothing more happens.
    again = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert again.status_code == 200
    assert suppressions(database, org) == [("reader@example.com", "unsubscribe", "one-click")]
    assert len(events(database, message_id, "unsubscribed")) == 1
    # The page now says so.
    assert "You are unsubscribed" in client.get(url).text


def test_unsubscribe_from_the_page_and_forged_tokens(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    message_id = make_message(database, org, "page@example.com")
    url = path(tracking.unsubscribe_url(message_id))
    token = _token(url)
    for bad in (
        _flip(token, len(token) - 2),
        _flip(token, 3),
        "forged",
        tracking.message_token(tracking.PREFERENCES_PURPOSE, message_id),
        tracking.message_token(tracking.OPEN_PURPOSE, message_id),
    ):
        for method in ("GET", "POST"):
            refused = client.request(method, f"/u/{bad}", data={"List-Unsubscribe": "One-Click"})
            assert refused.status_code == 400, (method, bad)
            assert "This link does not work" in refused.text
    assert suppressions(database, org) == []
    gone = tracking.message_token(tracking.UNSUBSCRIBE_PURPOSE, uuid.uuid4())
    assert client.post(f"/u/{gone}").status_code == 404
    # The page's button posts its own field.
    assert client.post(url, data={"confirm": "page"}).status_code == 200
    assert suppressions(database, org) == [("page@example.com", "unsubscribe", "page")]


def test_unsubscribe_is_not_blocked_by_session_cookies_or_the_dashboard(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    message_id = make_message(database, org, "owner@example.com")
    sign_in(client, org.owner_email)  # a session cookie but no CSRF header
    url = path(tracking.unsubscribe_url(message_id))
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(suppressions(database, org)) == 1
    # Paths under the link prefixes never fall through to the dashboard.
    assert client.get("/u/").status_code == 404
    assert client.put(url).status_code == 405


def test_preference_page_resubscribes_but_never_over_a_bounce(
    client: TestClient, database: Database
) -> None:
    org = make_org(name="Acme")
    message_id = make_message(database, org, "prefs@example.com")
    prefs = path(tracking.preferences_url(message_id))
    page = client.get(prefs)
    assert page.status_code == 200 and "is subscribed" in page.text
    assert client.post(prefs, data={"action": "unsubscribe"}).status_code == 200
    assert suppressions(database, org) == [("prefs@example.com", "unsubscribe", "preferences")]
    page = client.get(prefs)
    assert "Resubscribe" in page.text
    done = client.post(prefs, data={"action": "resubscribe"})
    assert done.status_code == 200 and "subscribed again" in done.text
    assert suppressions(database, org) == []
    assert client.post(prefs, data={"action": "dance"}).status_code == 400
    assert client.post(prefs).status_code == 400
    assert client.get(f"/p/{_flip(_token(prefs), 4)}").status_code == 400
    unsubscribe_token = tracking.message_token(tracking.UNSUBSCRIBE_PURPOSE, message_id)
    assert client.get(f"/p/{unsubscribe_token}").status_code == 400

    for reason in ("hard_bounce", "complaint"):
        with database.transaction() as session:
            session.execute(sa.delete(Suppression).where(Suppression.org_id == org.org_id))
            session.add(
                Suppression(
                    org_id=org.org_id, channel="email", address="prefs@example.com", reason=reason
                )
            )
        page = client.get(prefs)
        assert "Resubscribe" not in page.text and "contact Acme" in page.text
        client.post(prefs, data={"action": "resubscribe"})
        assert suppressions(database, org) == [("prefs@example.com", reason, "api")]
        # Unsubscribing over a bounce keeps the stronger reason.
        client.post(path(tracking.unsubscribe_url(message_id)))
        assert suppressions(database, org) == [("prefs@example.com", reason, "api")]


def test_unsubscribe_and_resubscribe_move_segment_membership(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    response = client.post(
        "/api/identify", json={"email": "member@example.com"}, headers=org.public_headers
    )
    profile_id = uuid.UUID(response.json()["profile_id"])
    with database.transaction() as session:
        session.add(
            Consent(
                org_id=org.org_id,
                profile_id=profile_id,
                channel="email",
                granted=False,
                source="api",
            )
        )
    segment = client.post(
        "/api/segments",
        json={
            "name": "Reachable",
            "definition": {"conditions": [{"type": "consent", "channel": "email"}]},
        },
        headers=org.secret_headers,
    ).json()

    def members() -> int:
        while segments.process_changes(database):
            pass
        got = client.get(f"/api/segments/{segment['id']}", headers=org.secret_headers)
        return int(got.json()["member_count"])

    assert members() == 0  # consent withdrawn
    message_id = make_message(database, org, "member@example.com", profile_id)
    prefs = path(tracking.preferences_url(message_id))
    client.post(prefs, data={"action": "resubscribe"})  # gives consent again
    assert members() == 1
    client.post(path(tracking.unsubscribe_url(message_id)), data={"List-Unsubscribe": "One-Click"})
    assert members() == 0
    client.post(prefs, data={"action": "resubscribe"})
    assert members() == 1
