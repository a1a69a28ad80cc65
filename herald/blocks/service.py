"""Saved template blocks: MJML sections people reuse across templates. A block is checked the
way a template body is (Jinja, then MJML compiled by the same renderer), inside a minimal
document, and its errors are reported against the block's own lines under the field `mjml`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from herald.errors import FieldError, InvalidInput
from herald.models import TemplateBlock
from herald.pagination import newest_first_page
from herald.templates.rendering import (
    TemplateError,
    TemplateProblem,
    check_template,
    compile_body,
)
from herald.tenancy.scope import get_scoped, scoped

# The block goes on the line after this, so a problem at document line N is at block line N - 1.
_DOCUMENT_START = "<mjml><mj-body>\n"
_DOCUMENT_END = "\n</mj-body></mjml>"
_TAG = re.compile(r"<(/?)(mj-[a-z-]+)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
TOP_LEVEL = ("mj-section", "mj-wrapper")
ONE_ELEMENT = "must be one <mj-section> or <mj-wrapper> element (with what it contains)"


def document(fragment: str) -> str:
    """A block inside the smallest MJML document that compiles it."""
    return f"{_DOCUMENT_START}{fragment}{_DOCUMENT_END}"


def _top_level_tags(fragment: str) -> list[str]:
    """The names of the MJML elements at the fragment's top level, in order."""
    text = _COMMENT.sub("", fragment)
    found: list[str] = []
    depth = 0
    for match in _TAG.finditer(text):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            depth = max(0, depth - 1)
        elif rest.rstrip().endswith("/"):
            if depth == 0:
                found.append(name)
        else:
            if depth == 0:
                found.append(name)
            depth += 1
    return found


def _outside_elements(fragment: str) -> str:
    """Text at the top level, outside any element (there should be none)."""
    text = _COMMENT.sub("", fragment)
    depth = 0
    outside: list[str] = []
    last = 0
    for match in _TAG.finditer(text):
        if depth == 0:
            outside.append(text[last : match.start()])
        closing, rest = match.group(1), match.group(3)
        if closing:
            depth = max(0, depth - 1)
        elif not rest.rstrip().endswith("/"):
            depth += 1
        last = match.end()
    if depth == 0:
        outside.append(text[last:])
    return "".join(outside).strip()


def _block_problem(problem: TemplateProblem) -> FieldError:
    """A problem in the document as one in the block: its line, less the document's first."""
    line = problem.line - 1 if problem.line is not None and problem.line > 1 else problem.line
    moved = TemplateProblem("mjml", problem.reason, line, problem.column)
    return FieldError("mjml", moved.describe())


def check_block(fragment: str) -> None:
    """InvalidInput naming `mjml` unless the fragment is one section or wrapper that compiles."""
    tags = _top_level_tags(fragment)
    if len(tags) != 1 or tags[0] not in TOP_LEVEL or _outside_elements(fragment):
        raise InvalidInput.for_field("mjml", ONE_ELEMENT)
    source = document(fragment)
    try:
        check_template(subject="", preheader=None, html=source, text=None, marketing=False)
        compile_body("mjml", source)
    except TemplateError as exc:
        raise InvalidInput.for_fields([_block_problem(p) for p in exc.problems]) from exc


def create_block(session: Session, org_id: uuid.UUID, name: str, mjml: str) -> TemplateBlock:
    check_block(mjml)
    block = TemplateBlock(org_id=org_id, name=name, mjml=mjml)
    session.add(block)
    session.flush()
    return block


def get_block(session: Session, org_id: uuid.UUID, block_id: uuid.UUID) -> TemplateBlock:
    return get_scoped(session, TemplateBlock, org_id, block_id)


def list_blocks(
    session: Session, org_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[TemplateBlock], str | None]:
    return newest_first_page(
        session,
        scoped(TemplateBlock, org_id),
        TemplateBlock.created_at,
        TemplateBlock.id,
        limit=limit,
        cursor=cursor,
    )


def update_block(
    session: Session, org_id: uuid.UUID, block_id: uuid.UUID, changes: Mapping[str, Any]
) -> TemplateBlock:
    block = get_block(session, org_id, block_id)
    if changes.get("mjml") is not None:
        check_block(changes["mjml"])
        block.mjml = changes["mjml"]
    if changes.get("name") is not None:
        block.name = changes["name"]
    session.flush()
    return block


def delete_block(session: Session, org_id: uuid.UUID, block_id: uuid.UUID) -> None:
    session.delete(get_block(session, org_id, block_id))
    session.flush()
