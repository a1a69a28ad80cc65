"""Personalized email: checking templates at save time, compiling MJML, and rendering messages.

Other parts of Herald code against this module (campaign and flow sends, transactional email, the
render benchmark), so its names (`__all__`) and signatures are a contract. The work is split by
concern: the contract's types in `contract`, Jinja constructs in `constructs`, the sandbox and its
filters in `sandbox`, save-time checks in `checks`, MJML in `compiling`, plain text from HTML in
`text` (all in `herald.templates`); this module builds contexts and renders.

- `check_template` finds every problem a person can fix at save time: Jinja syntax errors and
  names that do not exist (with line and column), sandbox-escape attempts, and the unsubscribe
  link and postal address that marketing email must carry.
- `compile_body` turns MJML into HTML once, at save, with the Jinja in it untouched.
- `build_context` and `render_email` personalize a message. Rendering never fails for data that
  is missing: a missing property renders as nothing (the names were checked at save).

Templates run in Jinja's immutable sandbox with HTML autoescaping, so user-written templates never
reach Python internals. Compiled templates are cached by their source, and the plain-text part of
a template without one is derived once per HTML source (as a Jinja template itself), so a message
costs one pass of each compiled template."""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError
from markupsafe import escape

from herald.templates.checks import _check_one, _syntax_problem, check_template
from herald.templates.compiling import compile_body
from herald.templates.contract import (
    BODY_FORMATS,
    CONTEXT_NAMES,
    PROFILE_FIELDS,
    RenderedEmail,
    TemplateError,
    TemplateParts,
    TemplateProblem,
)
from herald.templates.sandbox import TOO_DEEP, _compiled
from herald.templates.text import _text_template, html_to_text

if TYPE_CHECKING:
    from herald.models import EmailSettings, EmailTemplate, Organization, Profile


__all__ = [
    "BODY_FORMATS",
    "CONTEXT_NAMES",
    "RenderedEmail",
    "TemplateError",
    "TemplateParts",
    "TemplateProblem",
    "build_context",
    "check_template",
    "compile_body",
    "html_to_text",
    "parts_of",
    "profile_context",
    "render_email",
    "sample_context",
]


def profile_context(profile: Profile | None) -> dict[str, Any]:
    """A profile as templates see it: the fields in PROFILE_FIELDS that are set, and its custom
    properties twice, as `profile.properties.<name>` and as `profile.<name>` unless a field
    has that name (then only the first way reaches the property)."""
    if profile is None:
        return {}
    properties = dict(profile.properties or {})
    view: dict[str, Any] = {
        name: value for name, value in properties.items() if name not in PROFILE_FIELDS
    }
    for name in PROFILE_FIELDS:
        value = properties if name == "properties" else getattr(profile, name, None)
        if name == "id" and value is not None:
            value = str(value)
        if value is not None:
            view[name] = value
        else:
            view.pop(name, None)
    return view


def build_context(
    *,
    profile: Profile | None,
    organization: Organization,
    settings: EmailSettings | None,
    data: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    unsubscribe_url: str = "",
    preferences_url: str = "",
) -> dict[str, Any]:
    """Everything a template can use. `data` is what the sender passed (a transactional send's
    data, a campaign's extra fields); `event` is the event that triggered a flow."""
    return {
        "profile": profile_context(profile),
        "organization": {
            "name": organization.name,
            "postal_address": (settings.postal_address if settings else None) or "",
            "timezone": organization.timezone,
        },
        "data": dict(data or {}),
        "event": dict(event or {}),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }


_LINE_BREAKS = re.compile(r"[\r\n\v\f\x00\x85\u2028\u2029]+")
_BODY_TAG = re.compile(r"<body\b[^>]*>", re.I)
_PREHEADER_STYLE = (
    "display:none !important;visibility:hidden;mso-hide:all;font-size:1px;line-height:1px;"
    "max-height:0;max-width:0;opacity:0;overflow:hidden;color:transparent"
)
# Keeps the start of the body text out of the inbox preview after a short preheader.
_PREHEADER_PADDING = "&#847;&zwnj;&nbsp;" * 40


def _single_line(text: str) -> str:
    """Header-safe text: line breaks (and NUL) become spaces, so nobody can inject headers."""
    return " ".join(_LINE_BREAKS.sub(" ", text).split())


def _error_line(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _render(kind: str, source: str, context: Mapping[str, Any], field: str) -> str:
    try:
        template = _compiled(kind, source)
    except TemplateSyntaxError as exc:
        raise TemplateError([_syntax_problem(field, source, exc)]) from exc
    except RecursionError as exc:
        raise TemplateError([TemplateProblem(field, TOO_DEEP)]) from exc
    try:
        return template.render(context)
    except Exception as exc:  # anything a template does wrong is the template's error
        reason = str(exc) if isinstance(exc, SecurityError) else f"{type(exc).__name__}: {exc}"
        raise TemplateError([TemplateProblem(field, reason, _error_line(exc))]) from exc


def render_text(source: str, context: Mapping[str, Any], field: str) -> str:
    """A text template (no escaping), such as a webhook step's body, in the same sandbox as
    email; TemplateError names `field` when it goes wrong."""
    return _render("text", source, context, field)


def _insert_preheader(html: str, preheader: str) -> str:
    span = (
        f'<span style="{_PREHEADER_STYLE}" aria-hidden="true">{escape(preheader)}'
        f"{_PREHEADER_PADDING}</span>"
    )
    index = html.find("<body")
    if index < 0:
        index = html.lower().find("<body")
    if index >= 0:
        match = _BODY_TAG.match(html, index)
        if match:
            return html[: match.end()] + span + html[match.end() :]
    return span + html


def render_email(parts: TemplateParts, context: Mapping[str, Any]) -> RenderedEmail:
    """One personalized message. The subject and preheader are single lines of text; the HTML
    is autoescaped, with the preheader as hidden preview text at the start of its body; the text
    part is rendered without escaping or, when the template has none, made from the HTML."""
    subject = _single_line(_render("text", parts.subject, context, "subject"))
    preheader: str | None = None
    if parts.preheader:
        preheader = _single_line(_render("text", parts.preheader, context, "preheader")) or None
    html = _render("html", parts.html, context, "body")
    if parts.text is not None:
        text = _render("text", parts.text, context, "text_body")
    else:
        text_template = _text_template(parts.html)
        if text_template is None:
            text = html_to_text(html)
        else:
            try:
                text = text_template.render(context)
            except Exception as exc:
                raise TemplateError(
                    [TemplateProblem("body", f"{type(exc).__name__}: {exc}", _error_line(exc))]
                ) from exc
    if preheader:
        html = _insert_preheader(html, preheader)
    return RenderedEmail(subject=subject, preheader=preheader, html=html, text=text)


def parts_of(template: EmailTemplate) -> TemplateParts:
    return TemplateParts(
        subject=template.subject,
        preheader=template.preheader,
        html=template.compiled_html,
        text=template.text_body,
    )


def sample_context(organization: Organization, settings: EmailSettings | None) -> dict[str, Any]:
    """A context for previews without a profile: the organization's own fields and `data`
    left to the caller."""
    return build_context(
        profile=None,
        organization=organization,
        settings=settings,
        unsubscribe_url="#unsubscribe",
        preferences_url="#preferences",
    )


def check_text(source: str, field: str = "body") -> None:
    """The problems a plain-text template (an SMS body) has, as TemplateError, or nothing."""
    found, _tree = _check_one(field, source, "text", False)
    if found:
        raise TemplateError(found)
