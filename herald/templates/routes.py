"""HTTP handlers for email templates (secret key or dashboard)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response, status

from herald.errors import ErrorResponse
from herald.models import EmailTemplate
from herald.routing import JsonBodyRoute
from herald.templates import schemas, service
from herald.templates.rendering import RenderedEmail
from herald.templates.starters import STARTERS
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/templates", tags=["templates"], route_class=JsonBodyRoute)

INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Problems, each with line and column."}
}


def _out(template: EmailTemplate) -> schemas.Template:
    return schemas.Template.model_validate(template, from_attributes=True)


def _preview(rendered: RenderedEmail) -> schemas.TemplatePreview:
    return schemas.TemplatePreview(
        subject=rendered.subject,
        preheader=rendered.preheader,
        html=rendered.html,
        text=rendered.text,
    )


def _sample(body: schemas.TemplatePreviewFor) -> dict[str, object] | None:
    return body.sample.model_dump() if body.sample is not None else None


@router.get("", operation_id="list_templates")
def list_templates(auth: ManagementAuth, session: DbSession) -> schemas.TemplateList:
    """Every template, by name, without bodies (GET one for its body)."""
    return schemas.TemplateList(
        data=[
            schemas.TemplateSummary.model_validate(t, from_attributes=True)
            for t in service.list_templates(session, auth.org_id)
        ]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_template",
    responses=INVALID,
)
def create_template(
    body: schemas.TemplateCreate, auth: ManagementAuth, session: DbSession
) -> schemas.Template:
    """Save a template: its personalization is checked and MJML compiled now, so a template
    that saved renders at send time."""
    template = service.create_template(session, auth.org_id, body.model_dump())
    return _out(template)


@router.post("/preview", operation_id="preview_template", responses=INVALID)
def preview_template(
    body: schemas.TemplatePreviewRequest, auth: ManagementAuth, session: DbSession
) -> schemas.TemplatePreview:
    """Render an unsaved template for a profile or sample data."""
    rendered = service.preview_unsaved(
        session,
        auth.org_id,
        subject=body.subject,
        preheader=body.preheader,
        body_format=body.body_format,
        body=body.body,
        text_body=body.text_body,
        profile_id=body.profile_id,
        sample=_sample(body),
    )
    return _preview(rendered)


@router.get("/starters", operation_id="list_template_starters")
def list_template_starters(auth: ManagementAuth) -> schemas.TemplateStarterList:
    """Starter templates to begin from: each passes the save-time checks and stacks its columns
    on phones. Create one with `POST /api/templates` and `{"starter": key, "name": ...}`."""
    return schemas.TemplateStarterList(
        data=[
            schemas.TemplateStarter.model_validate({**asdict(starter), "mjml": starter.mjml})
            for starter in STARTERS
        ]
    )


@router.get("/{template_id}", operation_id="get_template")
def get_template(
    template_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Template:
    return _out(service.get_template(session, auth.org_id, template_id))


@router.patch("/{template_id}", operation_id="update_template", responses=INVALID)
def update_template(
    template_id: uuid.UUID, body: schemas.TemplateUpdate, auth: ManagementAuth, session: DbSession
) -> schemas.Template:
    changes = body.model_dump(exclude_unset=True)
    return _out(service.update_template(session, auth.org_id, template_id, changes))


@router.delete(
    "/{template_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_template"
)
def delete_template(template_id: uuid.UUID, auth: ManagementAuth, session: DbSession) -> Response:
    service.delete_template(session, auth.org_id, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{template_id}/duplicate",
    status_code=status.HTTP_201_CREATED,
    operation_id="duplicate_template",
)
def duplicate_template(
    template_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.Template:
    """A copy named "<name> (copy)"."""
    return _out(service.duplicate_template(session, auth.org_id, template_id))


@router.post("/{template_id}/preview", operation_id="preview_saved_template", responses=INVALID)
def preview_saved_template(
    template_id: uuid.UUID,
    body: schemas.TemplatePreviewFor,
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.TemplatePreview:
    """Render a saved template for a profile or sample data."""
    rendered = service.preview_saved(
        session, auth.org_id, template_id, profile_id=body.profile_id, sample=_sample(body)
    )
    return _preview(rendered)
