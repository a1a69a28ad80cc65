"""Email templates: saving (checked and compiled once, at save), duplicating and previewing.
No HTTP here; rendering itself lives in `herald.templates.rendering`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.errors import FieldError, InvalidInput
from herald.messaging import service as messages
from herald.models import EmailSettings, EmailTemplate, Message, Organization
from herald.profiles.service import get_profile
from herald.templates.contract import PROFILE_FIELDS
from herald.templates.rendering import (
    RenderedEmail,
    TemplateError,
    TemplateParts,
    build_context,
    check_template,
    compile_body,
    parts_of,
    render_email,
)
from herald.templates.starters import get_starter
from herald.tenancy.scope import check_name_free, get_scoped, save_named, scoped

MAX_TEMPLATES = 5000
# Links in previews: they go nowhere (the real ones carry a signed token per recipient).
PREVIEW_UNSUBSCRIBE_URL = "#unsubscribe"
PREVIEW_PREFERENCES_URL = "#preferences"
EDITABLE = (
    "name",
    "kind",
    "subject",
    "preheader",
    "from_name",
    "from_email",
    "reply_to",
    "body_format",
    "body",
    "text_body",
)


def invalid(exc: TemplateError) -> InvalidInput:
    """A TemplateError as the API's error: one field error per problem, with its position."""
    fields = [FieldError(p.field, p.describe()) for p in exc.problems]
    summary = "; ".join(f"{f.field}: {f.reason}" for f in fields[:3])
    more = f" (and {len(fields) - 3} more)" if len(fields) > 3 else ""
    return InvalidInput(f"the template has problems: {summary}{more}", fields)


def prepare(
    *,
    kind: str,
    subject: str,
    preheader: str | None,
    body_format: str,
    body: str,
    text_body: str | None,
    enforce_marketing: bool = True,
) -> str:
    """Check a template and return its compiled HTML, or raise InvalidInput naming each field
    at fault. Jinja is checked in the body as written, so positions match the editor."""
    try:
        check_template(
            subject=subject,
            preheader=preheader,
            html=body,
            text=text_body,
            marketing=enforce_marketing and kind == "marketing",
        )
        return compile_body(body_format, body)
    except TemplateError as exc:
        raise invalid(exc) from exc


# --- CRUD -----------------------------------------------------------------------------------------


def get_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> EmailTemplate:
    return get_scoped(session, EmailTemplate, org_id, template_id)


def list_templates(session: Session, org_id: uuid.UUID) -> list[EmailTemplate]:
    query = scoped(EmailTemplate, org_id).order_by(EmailTemplate.name).limit(MAX_TEMPLATES)
    return list(session.scalars(query))


NAME_TAKEN = "another template already has this name"


def create_template(
    session: Session, org_id: uuid.UUID, fields: Mapping[str, Any]
) -> EmailTemplate:
    values: dict[str, Any] = {name: fields.get(name) for name in EDITABLE}
    if fields.get("starter"):
        starter = get_starter(fields["starter"])
        if values["body"] is None:
            values["body"], values["body_format"] = starter.mjml, "mjml"
        for name in ("kind", "subject", "preheader"):
            if values[name] is None:
                values[name] = getattr(starter, name)
    for name in ("subject", "body"):
        if values[name] is None:
            raise InvalidInput.for_field(name, "is required (or name a starter)")
    values["kind"] = values["kind"] or "marketing"
    values["body_format"] = values["body_format"] or "mjml"
    compiled = prepare(
        kind=values["kind"],
        subject=values["subject"],
        preheader=values["preheader"],
        body_format=values["body_format"],
        body=values["body"],
        text_body=values["text_body"],
    )
    check_name_free(session, EmailTemplate, org_id, values["name"], None, NAME_TAKEN)
    template = EmailTemplate(org_id=org_id, compiled_html=compiled, **values)
    save_named(session, template, NAME_TAKEN)
    return template


def update_template(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID, changes: Mapping[str, Any]
) -> EmailTemplate:
    template = get_template(session, org_id, template_id)
    values = {name: getattr(template, name) for name in EDITABLE}
    for name in EDITABLE:
        if name not in changes:
            continue
        if changes[name] is None and name in ("name", "kind", "subject", "body_format", "body"):
            raise InvalidInput.for_field(name, "cannot be null")
        values[name] = changes[name]
    compiled = prepare(
        kind=values["kind"],
        subject=values["subject"],
        preheader=values["preheader"],
        body_format=values["body_format"],
        body=values["body"],
        text_body=values["text_body"],
    )
    if values["name"] != template.name:
        check_name_free(session, EmailTemplate, org_id, values["name"], template.id, NAME_TAKEN)
    for name, value in values.items():
        if getattr(template, name) != value:
            setattr(template, name, value)
    if template.compiled_html != compiled:
        template.compiled_html = compiled
    save_named(session, template, NAME_TAKEN)
    return template


def delete_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> None:
    template = get_template(session, org_id, template_id)
    session.delete(template)
    session.flush()


def _copy_name(session: Session, org_id: uuid.UUID, name: str) -> str:
    taken = set(
        session.scalars(
            sa.select(EmailTemplate.name).where(
                EmailTemplate.org_id == org_id, EmailTemplate.name.startswith(name[:200])
            )
        )
    )
    for number in range(1, MAX_TEMPLATES + 2):
        suffix = " (copy)" if number == 1 else f" (copy {number})"
        candidate = name[: 255 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise InvalidInput.for_field("name", "too many copies of this template")


def duplicate_template(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID
) -> EmailTemplate:
    """A copy named "<name> (copy)" (then "(copy 2)", ...). It was valid when saved, so it is
    copied as it is, compiled HTML included."""
    original = get_template(session, org_id, template_id)
    copy = EmailTemplate(
        org_id=org_id,
        compiled_html=original.compiled_html,
        **{name: getattr(original, name) for name in EDITABLE},
    )
    copy.name = _copy_name(session, org_id, original.name)
    save_named(session, copy, NAME_TAKEN)
    return copy


# --- Previews -------------------------------------------------------------------------------------


def _sample_profile(sample: Mapping[str, Any]) -> dict[str, Any]:
    """A made-up profile as templates see one (the same clash rule as real profiles)."""
    properties = sample.get("properties")
    properties = dict(properties) if isinstance(properties, Mapping) else {}
    view = {k: v for k, v in properties.items() if k not in PROFILE_FIELDS}
    view.update({k: v for k, v in sample.items() if v is not None})
    view["properties"] = properties
    return view


def preview(
    session: Session,
    org_id: uuid.UUID,
    parts: TemplateParts,
    *,
    profile_id: uuid.UUID | None = None,
    sample: Mapping[str, Any] | None = None,
) -> RenderedEmail:
    """Render a template for one of the organization's profiles, or for sample data (an
    unknown or another organization's profile id is a 404)."""
    organization = session.get(Organization, org_id)
    assert organization is not None
    settings = session.get(EmailSettings, org_id)
    sample = sample or {}
    profile = get_profile(session, org_id, profile_id) if profile_id is not None else None
    context = build_context(
        profile=profile,
        organization=organization,
        settings=settings,
        data=sample.get("data"),
        event=sample.get("event"),
        unsubscribe_url=PREVIEW_UNSUBSCRIBE_URL,
        preferences_url=PREVIEW_PREFERENCES_URL,
    )
    if profile is None and sample.get("profile"):
        context["profile"] = _sample_profile(sample["profile"])
    try:
        return render_email(parts, context)
    except TemplateError as exc:
        raise invalid(exc) from exc


def preview_unsaved(
    session: Session,
    org_id: uuid.UUID,
    *,
    subject: str,
    preheader: str | None,
    body_format: str,
    body: str,
    text_body: str | None,
    profile_id: uuid.UUID | None = None,
    sample: Mapping[str, Any] | None = None,
) -> RenderedEmail:
    """What an unsaved template looks like. Problems that would stop a save are reported the
    same way, except the marketing requirements (a draft may lack its footer)."""
    compiled = prepare(
        kind="transactional",
        subject=subject,
        preheader=preheader,
        body_format=body_format,
        body=body,
        text_body=text_body,
        enforce_marketing=False,
    )
    parts = TemplateParts(subject=subject, preheader=preheader, html=compiled, text=text_body)
    return preview(session, org_id, parts, profile_id=profile_id, sample=sample)


def preview_saved(
    session: Session,
    org_id: uuid.UUID,
    template_id: uuid.UUID,
    *,
    profile_id: uuid.UUID | None = None,
    sample: Mapping[str, Any] | None = None,
) -> RenderedEmail:
    template = get_template(session, org_id, template_id)
    return preview(session, org_id, parts_of(template), profile_id=profile_id, sample=sample)


def test_send(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID, address: str, data: dict[str, Any]
) -> Message:
    """A saved template to one address, queued now as a transactional-source message."""
    template = get_template(session, org_id, template_id)
    return messages.queue_email(
        session,
        org_id,
        source="transactional",
        idempotency_key=f"template-test:{template.id}:{uuid.uuid4()}",
        to_address=address,
        template_id=template.id,
        data=data,
    )
