"""Email preparation benchmark: personalized, tracked, ready-to-send messages per second.

One run (issue #6), on one core:

  1. writes an MJML newsletter with 10 merge fields and 30 links, and compiles it once (as saving
     a template does) into about 40 KB of HTML with its Jinja intact;
  2. prepares `--count` (100,000) messages for distinct synthetic profiles, as the send worker
     does: `build_context`, `render_email` (sandboxed Jinja, autoescape, preheader, plain text),
     `tracking.prepare_html` (every link wrapped in a signed click URL, the open pixel),
     `tracking.list_unsubscribe_headers` and, unless `--no-mime`, the MIME message
     (`herald.email.mime.build_message(...)`, without DKIM);
  3. renders, with the same contexts, the same compiled HTML through a plain
     `jinja2.Environment(autoescape=True)`: the reference, the cost of personalization alone.

Only the preparation itself is timed (profile generation is not), in CPU time of this thread
(`time.thread_time`), so other load on the machine does not count; the two are interleaved
message by message so that both see the same caches. Prints messages per second for
each stage, the total and the reference, and the ratio. Target: at least 2,000 prepared
messages a second.

    .venv/bin/python bench/render.py                 # 100,000 messages
    .venv/bin/python bench/render.py --count 10000   # quick
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HERALD_SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("HERALD_BASE_URL", "https://mail.example.com")

import jinja2

from herald.db import new_id
from herald.messaging import tracking
from herald.models import EmailSettings, Organization, Profile
from herald.templates.rendering import (
    TemplateParts,
    build_context,
    compile_body,
    render_email,
)

try:
    from herald.email import mime
except ImportError:  # the MIME builder is optional for this benchmark
    mime = None  # type: ignore[assignment]

LINKS = 30
TARGET_BYTES = 40_000
TARGET_RATE = 2_000
FIRST_NAMES = ("Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Frances", "Guido")
CITIES = (
    ("Berlin", "DE"),
    ("Lisbon", "PT"),
    ("Austin", "US"),
    ("Osaka", "JP"),
    ("Lyon", "FR"),
    ("Leeds", "GB"),
)
# The 10 merge fields.
MERGE_FIELDS = (
    "{{ profile.first_name }}",
    "{{ profile.last_name }}",
    "{{ profile.email }}",
    "{{ profile.city }}",
    "{{ profile.country }}",
    "{{ profile.loyalty_tier }}",
    "{{ profile.points }}",
    "{{ data.offer_code }}",
    "{{ organization.name }}",
    "{{ organization.postal_address }}",
)


def _product(index: int) -> str:
    url = f"https://shop.example.com/products/{index}?utm_source=herald&amp;utm_campaign=winter"
    image = f"https://cdn.example.com/img/{index}.jpg"
    return f"""
    <mj-section background-color="#ffffff" padding="12px 0">
      <mj-column width="40%">
        <mj-image src="{image}" href="{url}" alt="Product {index}" width="180px" />
      </mj-column>
      <mj-column width="60%">
        <mj-text font-size="18px" font-weight="bold">Winter pick #{index}</mj-text>
        <mj-text font-size="14px">Picked for {{{{ profile.city }}}}, double points.</mj-text>
        <mj-button href="{url}" background-color="#1c7ed6" color="#ffffff">Shop now</mj-button>
      </mj-column>
    </mj-section>"""


PRODUCTS = 6
MORE_LINKS = LINKS - 4 - PRODUCTS * 2


def _more_picks() -> str:
    items = "".join(
        f'<li><a href="https://shop.example.com/c/{index}?utm_source=herald&amp;utm_medium=email"'
        f' style="color:#1c7ed6">Category {index}</a> from {{{{ profile.country }}}}</li>'
        for index in range(MORE_LINKS)
    )
    return f"""
    <mj-section background-color="#ffffff"><mj-column>
      <mj-text font-size="14px"><p>More picks for you:</p><ul>{items}</ul></mj-text>
    </mj-column></mj-section>"""


def template_mjml(padding_paragraphs: int = 0) -> str:
    """A newsletter: a header with 2 links, product rows (2 links each: the image and the
    button), a list of more links, small print, and a footer with 2 more links, unsubscribe and
    preferences: 30 tracked links in all."""
    body = "".join(_product(index) for index in range(PRODUCTS)) + _more_picks()
    small_print = "".join(
        f"<p>Offer terms, part {index + 1}: prices include VAT where it applies; the offer "
        "cannot be combined with other codes and ends when stock runs out or on Sunday at "
        "midnight, whichever comes first. Returns are free within 60 days.</p>"
        for index in range(padding_paragraphs)
    )
    body += f"""
    <mj-section><mj-column><mj-text font-size="11px" color="#868e96">{small_print}
    </mj-text></mj-column></mj-section>"""
    return f"""<mjml>
  <mj-head><mj-title>Winter sale</mj-title><mj-preview>Hi {{{{ profile.first_name }}}}</mj-preview>
  </mj-head>
  <mj-body background-color="#f1f3f5">
    <mj-section><mj-column>
      <mj-image src="https://cdn.example.com/logo.png" href="https://shop.example.com/"
        width="120px" />
      <mj-text font-size="22px">Hi {MERGE_FIELDS[0]} {MERGE_FIELDS[1]},</mj-text>
      <mj-text>Our winter sale starts today in {MERGE_FIELDS[3]}, {MERGE_FIELDS[4]}. As a
        {MERGE_FIELDS[5]} member you have {MERGE_FIELDS[6]} points. Use code
        <strong>{MERGE_FIELDS[7]}</strong> for 20% off.</mj-text>
      <mj-button href="https://shop.example.com/offers?ref=newsletter&amp;tier=all">
        All offers</mj-button>
    </mj-column></mj-section>
    {body}
    <mj-section><mj-column>
      <mj-text font-size="12px" color="#666">Sent to {MERGE_FIELDS[2]} by {MERGE_FIELDS[8]},
        {MERGE_FIELDS[9]}.
        <a href="https://shop.example.com/account">Your account</a> ·
        <a href="https://help.example.com/">Help</a> ·
        <a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a> ·
        <a href="{{{{ preferences_url }}}}">Preferences</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>"""


def compiled_template() -> tuple[str, float]:
    """The compiled HTML, with as much small print as takes it to about 40 KB."""
    base = len(compile_body("mjml", template_mjml(0)).encode())
    per_paragraph = len(compile_body("mjml", template_mjml(1)).encode()) - base
    paragraphs = max(0, round((TARGET_BYTES - base) / per_paragraph))
    started = time.perf_counter()
    html = compile_body("mjml", template_mjml(paragraphs))
    return html, time.perf_counter() - started


def make_profile(index: int) -> Profile:
    city, country = CITIES[index % len(CITIES)]
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    return Profile(
        id=uuid.UUID(int=index + 1),
        email=f"{first.lower()}.{index}@example.com",
        first_name=first,
        last_name=f"Tester{index}",
        city=city,
        country=country,
        properties={
            "loyalty_tier": ("gold", "silver", "bronze")[index % 3],
            "points": index % 5000,
        },
    )


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to CPU {core}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="messages (default 100,000)")
    parser.add_argument("--no-mime", action="store_true", help="skip building MIME messages")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU core")
    args = parser.parse_args()
    pinned = "not pinned" if args.no_pin else pin_to_one_core()
    build_mime = mime is not None and not args.no_mime

    html, compile_seconds = compiled_template()
    parts = TemplateParts(
        subject="{{ profile.first_name }}, winter sale in {{ profile.city }}",
        preheader="Code {{ data.offer_code }} inside",
        html=html,
        text=None,
    )
    organization = Organization(id=new_id(), name="Acme Outdoor", timezone="UTC")
    settings = EmailSettings(org_id=organization.id, postal_address="1 Main St, Springfield")
    reference = jinja2.Environment(autoescape=True).from_string(html)
    from_email = "news@acme.example.com"
    mailbox = tracking.unsubscribe_mailbox(from_email)

    stages = ("context", "render", "prepare_html", "headers", "mime")
    spent = dict.fromkeys(stages, 0.0)
    reference_spent = 0.0
    clock: Callable[[], float] = time.thread_time
    prepared_bytes = 0
    first_html = ""
    for index in range(args.count):
        profile = make_profile(index)
        message_id = new_id()
        t0 = clock()
        context = build_context(
            profile=profile,
            organization=organization,
            settings=settings,
            data={"offer_code": f"WINTER{index % 997}"},
            unsubscribe_url=tracking.unsubscribe_url(message_id),
            preferences_url=tracking.preferences_url(message_id),
        )
        t1 = clock()
        rendered = render_email(parts, context)
        t2 = clock()
        prepared = tracking.prepare_html(rendered.html, message_id)
        t3 = clock()
        headers = tracking.list_unsubscribe_headers(message_id, mailbox)
        t4 = clock()
        if build_mime:
            raw = mime.build_message(
                mime.MimeParts(
                    message_id=message_id,
                    from_email=from_email,
                    from_name=organization.name,
                    to_email=profile.email or "",
                    subject=rendered.subject,
                    html=prepared,
                    text=rendered.text,
                    headers=headers,
                )
            )
            prepared_bytes += len(raw)
        t5 = clock()
        reference.render(context)
        t6 = clock()
        spent["context"] += t1 - t0
        spent["render"] += t2 - t1
        spent["prepare_html"] += t3 - t2
        spent["headers"] += t4 - t3
        spent["mime"] += t5 - t4
        reference_spent += t6 - t5
        if index == 0:
            first_html = prepared
            check(prepared, rendered.text, message_id)

    count = args.count
    total = sum(spent.values())
    without_mime = total - spent["mime"]
    print(f"herald bench/render.py: {count:,} messages, {pinned}, Python {sys.version.split()[0]}")
    print(
        f"template: {len(html.encode()):,} bytes of compiled HTML (MJML compiled once in "
        f"{compile_seconds * 1000:.0f} ms), {len(MERGE_FIELDS)} merge fields, {LINKS} tracked links"
    )
    print(f"first prepared message: {len(first_html.encode()):,} bytes of HTML", end="")
    print(f", {prepared_bytes / count:,.0f} bytes of MIME on average" if build_mime else "")
    print()
    print(f"{'stage':<34}{'µs/message':>12}{'messages/s':>14}")
    for stage in stages:
        if stage == "mime" and not build_mime:
            continue
        per = spent[stage] / count
        print(f"{stage:<34}{per * 1e6:>12.1f}{1 / per if per else 0:>14,.0f}")
    rows = [("prepared, without MIME", without_mime)]
    if build_mime:
        rows.append(("prepared, with MIME", total))
    rows.append(("reference: bare Jinja2 render", reference_spent))
    print("-" * 60)
    for label, seconds in rows:
        print(f"{label:<34}{seconds / count * 1e6:>12.1f}{count / seconds:>14,.0f}")
    print()
    print(f"ratio prepared / bare Jinja2: {without_mime / reference_spent:.1f}x", end="")
    print(f" (with MIME: {total / reference_spent:.1f}x)" if build_mime else "")
    for label, seconds in rows[:-1]:
        rate = count / seconds
        verdict = "meets" if rate >= TARGET_RATE else "MISSES"
        print(f"{label}: {rate:,.0f} messages/s {verdict} the target of {TARGET_RATE:,}/s")


def check(html: str, text: str, message_id: uuid.UUID) -> None:
    """The first message is what a recipient would get: every link wrapped and valid, the pixel
    once, unsubscribe and preference links left as they are, the merge fields filled."""
    base = tracking.base_url()
    clicks = html.count(f'href="{base}/t/c/')
    assert clicks == LINKS, f"{clicks} wrapped links, expected {LINKS}"
    assert html.count(tracking.open_url(message_id)) == 1
    assert tracking.unsubscribe_url(message_id) in html
    assert tracking.preferences_url(message_id) in html
    assert "Hi Ada Tester0" in html and "WINTER0" in html and "Acme Outdoor" in html
    assert "{{" not in html and text.strip()
    start = html.index(f'href="{base}/t/c/') + len(f'href="{base}/t/c/')
    token = html[start : html.index('"', start)]
    assert tracking.read_click_token(token)[0] == message_id


if __name__ == "__main__":
    main()
