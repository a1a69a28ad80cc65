"""Template rendering without a database: save-time checks with positions, filters, the plain-text
part, MJML, the sandbox, header injection and the compiled-template cache."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from herald.models import EmailSettings, EmailTemplate, Organization, Profile
from herald.templates import checks, rendering, sandbox
from herald.templates import text as templates_text
from herald.templates.rendering import (
    TemplateError,
    TemplateParts,
    TemplateProblem,
    build_context,
    check_template,
    compile_body,
    html_to_text,
    parts_of,
    render_email,
)

ORG = Organization(id=uuid.uuid4(), name="Acme & Co", timezone="America/New_York")
SETTINGS = EmailSettings(org_id=ORG.id, postal_address="1 Main St, Springfield")


def profile(**fields: Any) -> Profile:
    values: dict[str, Any] = {"id": uuid.uuid4(), "email": "ada@example.com", "properties": {}}
    values.update(fields)
    return Profile(**values)


def context(person: Profile | None = None, **extra: Any) -> dict[str, Any]:
    return build_context(
        profile=person,
        organization=ORG,
        settings=SETTINGS,
        unsubscribe_url="https://herald.example/u/t0k3n?a=1&b=2",
        preferences_url="https://herald.example/p/t0k3n",
        **extra,
    )


def render(html: str, ctx: dict[str, Any] | None = None, **parts: Any) -> rendering.RenderedEmail:
    values: dict[str, Any] = {"subject": "S", "preheader": None, "html": html, "text": None}
    values.update(parts)
    return render_email(TemplateParts(**values), ctx if ctx is not None else context())


def problems(**parts: Any) -> list[TemplateProblem]:
    values: dict[str, Any] = {
        "subject": "Hi",
        "preheader": None,
        "html": "<p>hello</p>",
        "text": None,
        "marketing": False,
    }
    values.update(parts)
    with pytest.raises(TemplateError) as caught:
        check_template(**values)
    return caught.value.problems


MARKETING_FOOTER = (
    '<p>{{ organization.postal_address }} <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


# --- Save-time checks -----------------------------------------------------------------------------


def test_a_valid_template_passes() -> None:
    check_template(
        subject="Hi {{ profile.first_name | default('there') }}",
        preheader="{{ data.teaser }}",
        html="{% set n = 1 %}{% for item in data.items %}{{ item.name }}{{ loop.index }}"
        "{% endfor %}{{ n }}{% for i in range(3) %}{{ i }}{% endfor %}" + MARKETING_FOOTER,
        text="{{ organization.postal_address }} {{ unsubscribe_url }}",
        marketing=True,
    )


def test_syntax_errors_carry_line_and_column() -> None:
    [found] = problems(html="<p>a</p>\n<p>b</p>\n  <p>{{ profile.first_name }</p>\n")
    assert (found.field, found.line, found.column) == ("body", 3, 6)
    assert found.describe().startswith("line 3, column 6: ")

    [found] = problems(html="a\n\n    {% if profile.city %}\nno end\n")
    assert (found.line, found.column) == (3, 5)
    assert "never closed" in found.reason and "endif" in found.reason

    [found] = problems(html="a\n{{ profile.first_name \nb")
    assert (found.line, found.column) == (2, 1)

    [found] = problems(html="x\n  {% for i in data.items %}{{ i }}{% endfor %}{% endfor %}")
    assert (found.line, found.column) == (2, 47)
    assert "endfor" in found.reason and "closes nothing" in found.reason

    [found] = problems(subject="Hi {{ profile.first_name | shout }}")
    assert (found.field, found.line, found.column) == ("subject", 1, 28)
    assert "shout" in found.reason


def test_undefined_names_are_reported_where_they_are_used() -> None:
    found = problems(
        html="<p>\n  Hi {{ profle.first_name }}\n</p>{% set x = 1 %}{{ x }}",
        text="{{ foo }}",
    )
    assert [(p.field, p.line, p.column) for p in found] == [("body", 2, 9), ("text_body", 1, 4)]
    assert "'profle' is not defined" in found[0].reason
    assert "profile" in found[0].reason  # the names that exist are listed


def test_organization_fields_are_known() -> None:
    [found] = problems(html="{{ organization.nmae }}")
    assert "nmae" in found.reason and found.column == 17


def test_marketing_templates_need_an_unsubscribe_link_and_the_postal_address() -> None:
    found = problems(html="<p>Buy now</p>", marketing=True)
    reasons = " ".join(p.reason for p in found)
    assert "unsubscribe" in reasons and "postal address" in reasons
    assert all(p.field == "body" for p in found)
    # The preferences page counts as the way out; the text part needs both too.
    found = problems(
        html="{{ organization.postal_address }}{{ preferences_url }}",
        text="Buy now",
        marketing=True,
    )
    assert {p.field for p in found} == {"text_body"} and len(found) == 2
    # Transactional email needs neither.
    check_template(subject="x", preheader=None, html="<p>receipt</p>", text=None, marketing=False)


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ profile|attr('__class__') }}",
    "{{ '{0.__class__}'.format(profile) }}",
    "{{ self }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner }}{{ lipsum }}",
    "{{ config }}",
    "{{ env }}",
    "{{ request }}",
    "{{ range.__self__ }}",
    "{{ data['__class__'] }}",
    "{% include '/etc/passwd' %}",
]


@pytest.mark.parametrize("payload", SANDBOX_ESCAPES)
def test_sandbox_escapes_are_refused_at_save(payload: str) -> None:
    assert problems(html=payload)


@pytest.mark.parametrize(
    "payload",
    [
        *SANDBOX_ESCAPES[:-1],
        "{{ namespace.__init__.__globals__ }}",
        "{{ dict.mro() }}",
        "{{ profile.properties.__class__.__subclasses__() }}",
        "{{ ''.join.__self__ }}",
        "{{ (profile|list).__class__ }}",
        "{% set d = dict(a=1) %}{{ d.update({'b': 2}) }}{{ d }}",
    ],
)
def test_sandbox_escapes_render_nothing_dangerous(payload: str) -> None:
    """Templates that skipped the save-time check still cannot reach Python internals: they
    render nothing, or fail with a TemplateError."""
    ctx = context(profile(first_name="Ada"))
    try:
        out = render(payload, ctx, subject=payload, text=payload)
    except TemplateError:
        return
    for value in (out.subject, out.html, out.text):
        for marker in ("class", "<built-in", "function", "module", "Template", "object at", "b'"):
            assert marker not in value, (payload, value)


def test_sandbox_bounds_repetition_and_exponents() -> None:
    with pytest.raises(TemplateError, match="too long"):
        render("{{ 'x' * 10000000 }}")
    with pytest.raises(TemplateError, match="exponent"):
        render("{{ 9 ** 9999 }}")
    assert render("{{ 'ab' * 3 }}{{ 2 ** 10 }}").html == "ababab1024"


# --- Context and rendering ------------------------------------------------------------------------


def test_profile_fields_properties_and_their_clash_rule() -> None:
    person = profile(
        first_name="ada",
        city="London",
        properties={"plan": "pro", "city": "Paris", "items": ["a", "b"], "nested": {"k": "v"}},
    )
    ctx = context(person)
    html = (
        "{{ profile.first_name|title }}|{{ profile.city }}|{{ profile.properties.city }}|"
        "{{ profile.plan }}|{{ profile.items|join(',') }}|{{ profile.nested.k }}|"
        "{{ profile.email }}|{{ organization.name }}|{{ organization.postal_address }}"
    )
    assert render(html, ctx).html == (
        "Ada|London|Paris|pro|a,b|v|ada@example.com|Acme &amp; Co|1 Main St, Springfield"
    )


def test_missing_values_render_empty_and_default_covers_them() -> None:
    ctx = context(profile(first_name=None, properties={"blank": ""}), data={"n": None})
    html = (
        "[{{ profile.first_name }}][{{ profile.first_name|default('there') }}]"
        "[{{ profile.blank|default('b') }}][{{ profile.nope.deeper[0].x }}][{{ data.n|upper }}]"
        "[{{ data.missing + 1 }}][{% if data.missing > 3 %}big{% endif %}]"
        "[{% for x in data.missing %}{{ x }}{% endfor %}][{{ data.missing|date }}]"
        "[{{ data.missing|currency }}]"
    )
    assert render(html, ctx).html == "[][there][b][][][][][][][]"
    # No profile at all (a preview with sample data, a send to an address).
    assert render("Hi {{ profile.first_name|default('there') }}", context(None)).html == "Hi there"


def test_html_is_autoescaped_and_subject_and_text_are_not() -> None:
    ctx = context(profile(first_name="<b>Tom & Jerry</b>"))
    out = render(
        '<p>{{ profile.first_name }}</p><a href="{{ unsubscribe_url }}">u</a>',
        ctx,
        subject="For {{ profile.first_name }}",
        text="Hi {{ profile.first_name }}",
    )
    assert out.html == (
        "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
        '<a href="https://herald.example/u/t0k3n?a=1&amp;b=2">u</a>'
    )
    assert out.subject == "For <b>Tom & Jerry</b>"
    assert out.text == "Hi <b>Tom & Jerry</b>"


def test_subjects_are_one_line_so_headers_cannot_be_injected() -> None:
    ctx = context(profile(first_name="Ada\r\nBcc: victim@example.com\n\nbody"))
    out = render(
        "x",
        ctx,
        subject="Hi {{ profile.first_name }}\u2028!",
        preheader="P {{ profile.first_name }}",
    )
    assert out.subject == "Hi Ada Bcc: victim@example.com body !"
    assert "\r" not in out.subject and "\n" not in out.subject
    assert out.preheader == "P Ada Bcc: victim@example.com body"


def test_preheader_is_hidden_preview_text_at_the_start_of_the_body() -> None:
    out = render(
        '<html><head><title>t</title></head><body class="x"><p>Body</p></body></html>',
        context(profile(first_name="Ada")),
        preheader="Hello {{ profile.first_name }} <3",
    )
    assert out.preheader == "Hello Ada <3"
    head, body = out.html.split('<body class="x">')
    assert "Hello" not in head
    assert body.startswith('<span style="display:none')
    assert "Hello Ada &lt;3" in body
    assert "Hello" not in out.text
    # Without a body tag it leads the document; without a preheader nothing is added.
    assert render("<p>x</p>", preheader="Pre").html.startswith("<span")
    assert render("<p>x</p>", preheader="").html == "<p>x</p>"
    assert render("<p>x</p>", preheader=None).preheader is None


def test_date_filter_uses_the_profile_time_zone_else_the_organization_one() -> None:
    moment = datetime(2025, 3, 5, 23, 30, tzinfo=UTC)
    html = (
        "{{ data.at|date }}|{{ data.at|date('long') }}|{{ data.at|date('%Y-%m-%d %H:%M') }}|"
        "{{ data.at|date('full') }}|{{ data.at|date('time') }}|{{ data.at|date('short') }}|"
        "{{ data.at|date('medium', tz='Asia/Tokyo') }}|{{ data.iso|date('datetime') }}|"
        "{{ data.day|date('long') }}|{{ data.junk|date }}"
    )
    data = {"at": moment, "iso": "2025-03-05T23:30:00Z", "day": "2025-12-25", "junk": "soon"}
    berlin = context(profile(timezone="Europe/Berlin"), data=data)
    assert render(html, berlin).html == (
        "Mar 6, 2025|March 6, 2025|2025-03-06 00:30|Thursday, March 6, 2025|12:30 AM|3/6/25|"
        "Mar 6, 2025|Mar 6, 2025, 12:30 AM|December 25, 2025|soon"
    )
    # No profile time zone: the organization's (New York).
    assert render("{{ data.at|date('%H:%M') }}", context(profile(), data=data)).html == "18:30"


def test_currency_filter() -> None:
    html = (
        "{{ 12.5|currency('EUR') }}|{{ data.total|currency }}|{{ 1234567.891|currency }}|"
        "{{ -3.456|currency('GBP') }}|{{ 1500|currency('JPY') }}|{{ '9.99'|currency('sek') }}|"
        "{{ 'n/a'|currency }}"
    )
    assert render(html, context(data={"total": 0})).html == (
        "€12.50|$0.00|$1,234,567.89|-£3.46|¥1,500|SEK\u00a09.99|n/a"
    )


def test_case_filters() -> None:
    ctx = context(profile(first_name="ada LOVELACE"))
    html = "{{ profile.first_name|title }}|{{ profile.first_name|upper }}|{{ 'X'|lower }}"
    assert render(html, ctx).html == "Ada Lovelace|ADA LOVELACE|x"


def test_event_and_data_keys_come_before_mapping_methods() -> None:
    ctx = context(
        data={"items": [{"name": "Lamp"}, {"name": "Desk"}], "keys": "k"},
        event={"name": "Placed Order", "properties": {"value": 30}},
    )
    html = (
        "{% for item in data.items %}{{ item.name }};{% endfor %}{{ data.keys }}|"
        "{{ event.name }} {{ event.properties.value|currency }}|"
        "{% for k, v in event.properties|items %}{{ k }}={{ v }}{% endfor %}"
    )
    assert render(html, ctx).html == "Lamp;Desk;k|Placed Order $30.00|value=30"


def test_render_errors_become_template_errors_with_a_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render("ok\n{{ 1 / 0 }}")
    [found] = caught.value.problems
    assert found.field == "body" and found.line == 2 and "ZeroDivisionError" in found.reason
    with pytest.raises(TemplateError) as caught:
        render("x", subject="{{ oops")
    assert caught.value.problems[0].field == "subject"


# --- Plain text -----------------------------------------------------------------------------------


def test_text_is_generated_from_the_html_readably() -> None:
    html = """<html><head><title>Title</title><style>p { color: red }</style></head>
    <body><div style="display:none">hidden preview</div>
    <h1>Hello {{ profile.first_name }}</h1>
    <p>First   paragraph
       with a <a href="https://shop.example/{{ data.sku }}">link to the shop</a>.</p>
    <p>Second &amp; last: <a href="https://plain.example">https://plain.example</a></p>
    <ul>{% for item in data.items %}<li>{{ item }}</li>{% endfor %}</ul>
    <ol><li>one</li><li>two</li></ol>
    <p>{% if data.vip %}VIP{% else %}regular{% endif %} {{ '{' }} <b>bold</b></p>
    <script>alert(1)</script>
    <a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>"""
    ctx = context(profile(first_name="Ada"), data={"sku": "s1", "items": ["Lamp", "Desk"]})
    text = render(html, ctx).text
    assert text == (
        "Hello Ada\n\n"
        "First paragraph with a link to the shop (https://shop.example/s1).\n\n"
        "Second & last: https://plain.example\n\n"
        "- Lamp\n- Desk\n\n"
        "1. one\n2. two\n\n"
        "regular { bold\n\n"
        "Unsubscribe (https://herald.example/u/t0k3n?a=1&b=2)\n"
    )
    # The same text as converting the rendered HTML directly.
    assert text == html_to_text(render(html, ctx).html)


def test_a_written_text_part_is_used_as_is() -> None:
    out = render(
        "<p>html</p>", context(profile(first_name="A&B")), text="Hi {{ profile.first_name }}"
    )
    assert out.text == "Hi A&B"


def test_text_falls_back_to_converting_each_message_when_jinja_straddles_skipped_html() -> None:
    html = "<head>{% if data.x %}</head><body><p>yes {{ data.x }}</p>{% endif %}</body>"
    out = render(html, context(data={"x": "<1>"}))
    assert out.text == "yes <1>\n"


# --- MJML -----------------------------------------------------------------------------------------


MJML = """<mjml>
  <mj-head><mj-title>{{ data.title }}</mj-title></mj-head>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hi {{ profile.first_name | default("there") }}
          {% if data.n > 1 and data.n < 5 %}few{% endif %}</mj-text>
        <mj-button href="{{ data.url | default("https://e.com") }}?a=1&amp;b=2">Shop</mj-button>
        <mj-image src="{{ data.img }}" alt="{{ data.alt }}" />
      </mj-column>
    </mj-section>
    <mj-raw>{% for x in data.rows %}</mj-raw>
    <mj-section><mj-column><mj-text>{{ x }}</mj-text></mj-column></mj-section>
    <mj-raw>{% endfor %}</mj-raw>
  </mj-body>
</mjml>"""


def test_mjml_compiles_with_jinja_intact_in_text_and_attributes() -> None:
    html = compile_body("mjml", MJML)
    assert "<table" in html and "<mj-" not in html
    for jinja in (
        '{{ profile.first_name | default("there") }}',
        "{% if data.n > 1 and data.n < 5 %}",
        'href="{{ data.url | default("https://e.com") }}?a=1',
        'src="{{ data.img }}"',
        'alt="{{ data.alt }}"',
        "{% for x in data.rows %}",
    ):
        assert jinja in html, jinja
    assert "fonts.googleapis.com" not in html  # no automatic web-font imports
    ctx = context(
        profile(first_name="Ada"),
        data={"n": 2, "url": "https://shop.example", "rows": ["r1", "r2"], "title": "T"},
    )
    out = render(html, ctx)
    assert (
        re.search(r"Hi Ada\s+few", out.html)
        and 'href="https://shop.example?a=1&amp;b=2"' in out.html
    )
    assert "r1" in out.html and "r2" in out.html
    assert "Hi Ada few" in out.text and "Shop (https://shop.example?a=1&b=2)" in out.text
    assert "T\n" not in out.text  # the title is not body text


def test_html_passes_through() -> None:
    assert compile_body("html", "<p>{{ x }}</p>") == "<p>{{ x }}</p>"


def test_mjml_errors_are_reported_with_a_position() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_body(
            "mjml",
            "<mjml>\n<mj-body>\n  <mj-section>\n    <mj-column>\n"
            "      <mj-text>a</mj-column>\n</mj-section></mj-body></mjml>",
        )
    [found] = caught.value.problems
    assert (found.field, found.line, found.column) == ("body", 5, 17)
    assert "does not close <mj-text>" in found.reason
    with pytest.raises(TemplateError) as caught:
        compile_body("mjml", "<p>just html</p>")
    assert "<mjml>" in caught.value.problems[0].reason
    # Files are never read into a template.
    with pytest.raises(TemplateError) as caught:
        compile_body("mjml", '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>')
    assert caught.value.problems[0].line == 1


def test_parts_of_a_saved_template() -> None:
    template = EmailTemplate(
        subject="s", preheader="p", body="<mjml/>", compiled_html="<p>h</p>", text_body=None
    )
    assert parts_of(template) == TemplateParts("s", "p", "<p>h</p>", None)


# --- Caching --------------------------------------------------------------------------------------


def test_compiled_templates_are_cached_by_source() -> None:
    html = compile_body("mjml", MJML) + "<p>{{ data.order }}</p>" * 50
    parts = TemplateParts("Order {{ data.order }}", "Pre", html, None)
    sandbox._compiled.cache_clear()
    templates_text._text_template.cache_clear()
    for number in range(1000):
        out = render_email(parts, context(profile(first_name="Ada"), data={"order": number}))
        assert f"Order {number}" == out.subject
    # Each source compiled once: subject, preheader, HTML, and the text derived from the HTML.
    assert sandbox._compiled.cache_info().misses == 4
    assert templates_text._text_template.cache_info().misses == 1


def test_hostile_sources_are_refused_not_crashing() -> None:
    # mjml-python would overflow the stack (and kill the process) on very deep nesting.
    deep = "<mjml><mj-body>" + "<mj-wrapper>" * 5000 + "</mj-wrapper>" * 5000 + "</mj-body></mjml>"
    with pytest.raises(TemplateError, match="nested too deeply"):
        compile_body("mjml", deep)
    found = problems(html="{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert "nested too deeply" in found[0].reason
    [found_one] = problems(html="{{ a " * 20000)
    assert (found_one.line, found_one.column) == (1, 1)
    # Problems are capped per field.
    assert len(problems(html="{{ profile._x }}\n" * 200)) == checks.MAX_PROBLEMS
