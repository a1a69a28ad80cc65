"""HTTP handlers for saved template blocks (secret key or dashboard)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response, status

from herald.blocks import schemas, service
from herald.errors import ErrorResponse
from herald.models import TemplateBlock
from herald.pagination import PageLimit
from herald.routing import JsonBodyRoute
from herald.tenancy.auth import ManagementAuth
from herald.tenancy.deps import DbSession

router = APIRouter(prefix="/api/template-blocks", tags=["templates"], route_class=JsonBodyRoute)

INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Problems with `mjml`, each with its line."}
}


def _out(block: TemplateBlock) -> schemas.TemplateBlock:
    return schemas.TemplateBlock.model_validate(block, from_attributes=True)


@router.get("", operation_id="list_template_blocks")
def list_template_blocks(
    auth: ManagementAuth, session: DbSession, limit: PageLimit = 100, cursor: str | None = None
) -> schemas.TemplateBlockList:
    """Saved blocks, newest first."""
    blocks, next_cursor = service.list_blocks(session, auth.org_id, limit=limit, cursor=cursor)
    return schemas.TemplateBlockList(data=[_out(b) for b in blocks], next_cursor=next_cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_template_block",
    responses=INVALID,
)
def create_template_block(
    body: schemas.TemplateBlockCreate, auth: ManagementAuth, session: DbSession
) -> schemas.TemplateBlock:
    """Save an MJML section to reuse in templates."""
    return _out(service.create_block(session, auth.org_id, body.name, body.mjml))


@router.get("/{block_id}", operation_id="get_template_block")
def get_template_block(
    block_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> schemas.TemplateBlock:
    return _out(service.get_block(session, auth.org_id, block_id))


@router.patch("/{block_id}", operation_id="update_template_block", responses=INVALID)
def update_template_block(
    block_id: uuid.UUID,
    body: schemas.TemplateBlockUpdate,
    auth: ManagementAuth,
    session: DbSession,
) -> schemas.TemplateBlock:
    changes = body.model_dump(exclude_unset=True)
    return _out(service.update_block(session, auth.org_id, block_id, changes))


@router.delete(
    "/{block_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_template_block"
)
def delete_template_block(
    block_id: uuid.UUID, auth: ManagementAuth, session: DbSession
) -> Response:
    service.delete_block(session, auth.org_id, block_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
