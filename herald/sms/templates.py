"""Saved SMS templates: a named text checked in the template sandbox when it is saved, used by
SMS campaigns (the editor starts from one) and by the flow SMS step (which names one)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.errors import InvalidInput
from herald.models import SmsTemplate
from herald.templates.rendering import TemplateError, check_text
from herald.tenancy.scope import check_name_free, get_scoped, save_named, scoped

MAX_TEMPLATES = 1000
NAME_TAKEN = "another SMS template already has this name"


def text_problem(body: str, field: str = "body") -> str | None:
    """What is wrong with an SMS text's personalization (the same sandbox as email), if
    anything: the first problem, with its line and column."""
    try:
        check_text(body, field)
    except TemplateError as exc:
        return exc.problems[0].describe()
    return None


def check_body(body: str, field: str = "body") -> str:
    problem = text_problem(body, field)
    if problem is not None:
        raise InvalidInput.for_field(field, problem)
    return body


def list_templates(session: Session, org_id: uuid.UUID) -> list[SmsTemplate]:
    query = scoped(SmsTemplate, org_id).order_by(SmsTemplate.name).limit(MAX_TEMPLATES)
    return list(session.scalars(query))


def get_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> SmsTemplate:
    return get_scoped(session, SmsTemplate, org_id, template_id)


def bodies(
    session: Session, org_id: uuid.UUID, template_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SmsTemplate]:
    """The organization's templates among these ids (a deleted one is simply missing)."""
    wanted = set(template_ids)
    if not wanted:
        return {}
    return {
        t.id: t
        for t in session.scalars(
            sa.select(SmsTemplate).where(SmsTemplate.org_id == org_id, SmsTemplate.id.in_(wanted))
        )
    }


def create_template(session: Session, org_id: uuid.UUID, fields: Mapping[str, Any]) -> SmsTemplate:
    check_name_free(session, SmsTemplate, org_id, fields["name"], None, NAME_TAKEN)
    template = SmsTemplate(
        org_id=org_id,
        name=fields["name"],
        body=check_body(fields["body"]),
        media_urls=list(fields.get("media_urls") or []),
    )
    save_named(session, template, NAME_TAKEN)
    return template


def update_template(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID, changes: Mapping[str, Any]
) -> SmsTemplate:
    template = get_template(session, org_id, template_id)
    for name in ("name", "body"):
        if name in changes and changes[name] is None:
            raise InvalidInput.for_field(name, "cannot be null")
    if "name" in changes:
        check_name_free(session, SmsTemplate, org_id, changes["name"], template.id, NAME_TAKEN)
        template.name = changes["name"]
    if "body" in changes:
        template.body = check_body(changes["body"])
    if changes.get("media_urls") is not None:
        template.media_urls = list(changes["media_urls"])
    save_named(session, template, NAME_TAKEN)
    return template


def delete_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> None:
    """Flow steps that name it skip (with the reason) until they are changed."""
    session.delete(get_template(session, org_id, template_id))
    session.flush()
