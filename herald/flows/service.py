"""Flows: the draft and its published versions, status changes, and reading enrolments.

A flow's `definition` is the draft being edited. Publishing checks it against the organization
(its email templates and segments exist, its webhook URLs may be called) and writes it as a new,
never changed `FlowVersion`; the engine runs the published version. Status: draft -> live <->
paused -> archived. What happens to enrolments (holding them, ending them, moving them to a new
version) is the engine's (`herald.flows.engine`); this module calls it.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.errors import Conflict, FieldError, InvalidInput, NotFound
from herald.flows import enrolments, library
from herald.flows.definition import (
    FlowDefinition,
    FlowSmsSettings,
    Position,
    dump,
    stored,
    validate_graph,
)
from herald.flows.schemas import EnrolRequest, EnrolResult
from herald.models import (
    EmailTemplate,
    Flow,
    FlowEnrolment,
    FlowStepRun,
    FlowVersion,
    Segment,
    SmsTemplate,
)
from herald.outbound import DestinationRefused, check_url
from herald.pagination import newest_first_page
from herald.profiles.identity import ProfileRef, resolve
from herald.profiles.service import phone_for
from herald.segments.definition import Definition, referenced_segments
from herald.tenancy.scope import get_scoped, scoped

DRAFT, LIVE, PAUSED, ARCHIVED = "draft", "live", "paused", "archived"
FLOW_STATUSES = (DRAFT, LIVE, PAUSED, ARCHIVED)
ENROLMENT_STATUSES = ("active", "waiting", "completed", "exited", "failed")


# --- Reading -------------------------------------------------------------------------------------


def get_flow(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    return get_scoped(session, Flow, org_id, flow_id)


def list_flows(session: Session, org_id: uuid.UUID, status: str | None = None) -> list[Flow]:
    """Newest first; archived flows only when asked for by status."""
    query = scoped(Flow, org_id)
    if status is not None:
        query = query.where(Flow.status == status)
    else:
        query = query.where(Flow.status != ARCHIVED)
    return list(session.scalars(query.order_by(Flow.created_at.desc(), Flow.id.desc())))


def draft_of(flow: Flow) -> FlowDefinition:
    return stored(flow.definition)


def published_definitions(session: Session, flows: list[Flow]) -> dict[uuid.UUID, dict[str, Any]]:
    """The running version's definition of each flow that has one, as stored (one query)."""
    versions = [(f.id, f.published_version) for f in flows if f.published_version is not None]
    if not versions:
        return {}
    rows = session.execute(
        sa.select(FlowVersion.flow_id, FlowVersion.definition).where(
            sa.tuple_(FlowVersion.flow_id, FlowVersion.version).in_(versions)
        )
    )
    return {flow_id: definition for flow_id, definition in rows}


def published_of(session: Session, flow: Flow) -> FlowDefinition | None:
    raw = published_definitions(session, [flow]).get(flow.id)
    return None if raw is None else stored(raw)


def has_unpublished_changes(flow: Flow, published: dict[str, Any] | None) -> bool:
    """Whether the draft differs from the running version (`published`, as stored)."""
    return published is None or published != flow.definition


def trigger_label(session: Session, org_id: uuid.UUID, definition: FlowDefinition) -> str:
    """The trigger in a few words, for lists: the metric, the segment's name, the date."""
    trigger = definition.trigger
    if trigger.type == "metric":
        return trigger.metric
    if trigger.type in ("segment_entered", "segment_exited"):
        name = session.scalar(
            sa.select(Segment.name).where(
                Segment.org_id == org_id, Segment.id == trigger.segment_id
            )
        )
        verb = "Enters" if trigger.type == "segment_entered" else "Leaves"
        if name:
            return f"{verb} {name}"
        missing = "not chosen" if trigger.segment_id == library.UNCHOSEN else "not found"
        return f"{verb} a segment ({missing})"
    if trigger.type == "date_property":
        source = trigger.property or trigger.field
        return f"Date: {source}" + (" (yearly)" if trigger.recurrence == "yearly" else "")
    return "API call"


# --- Editing -------------------------------------------------------------------------------------


def _layout(layout: dict[str, Position] | None) -> dict[str, Any]:
    return {key: position.model_dump() for key, position in (layout or {}).items()}


def create_flow(
    session: Session,
    org_id: uuid.UUID,
    *,
    name: str,
    description: str | None,
    definition: FlowDefinition,
    layout: dict[str, Position] | None = None,
) -> Flow:
    """A draft. The definition's graph must hold together; the organization's rows it names
    (templates, segments) are checked when it is published."""
    _check_graph(definition)
    flow = Flow(
        org_id=org_id,
        name=name,
        description=description,
        status=DRAFT,
        trigger_type=definition.trigger.type,
        definition=dump(definition),
        layout=_layout(layout),
    )
    session.add(flow)
    session.flush()
    return flow


def _check_graph(definition: FlowDefinition) -> None:
    problems = validate_graph(definition)
    if problems:
        raise InvalidInput.for_fields(
            [FieldError(f"definition.{p.field}", p.reason) for p in problems]
        )


def update_flow(
    session: Session,
    org_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    definition: FlowDefinition | None = None,
    layout: dict[str, Position] | None = None,
    fields: set[str],
) -> Flow:
    """Change the draft (`fields` names what the request set; description may be set to null).
    A live or paused flow keeps running its published version until the next publish; an
    archived flow cannot be changed."""
    flow = get_flow(session, org_id, flow_id)
    if flow.status == ARCHIVED:
        raise Conflict("an archived flow cannot be changed; duplicate it instead")
    if "name" in fields:
        if name is None:
            raise InvalidInput.for_field("name", "a flow needs a name")
        flow.name = name
    if "description" in fields:
        flow.description = description
    if "definition" in fields:
        if definition is None:
            raise InvalidInput.for_field("definition", "a flow needs a definition")
        _check_graph(definition)
        flow.definition = dump(definition)
        flow.trigger_type = definition.trigger.type
    if "layout" in fields:
        flow.layout = _layout(layout)
    flow.updated_at = utcnow()
    session.flush()
    return flow


def delete_flow(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> bool:
    """Delete a flow that was never published (True); any other is archived instead, so that
    its enrolments and results stay (False)."""
    flow = get_flow(session, org_id, flow_id)
    if flow.status == DRAFT and flow.published_version is None:
        session.delete(flow)
        session.flush()
        return True
    enrolments.archive(session, org_id, flow_id)
    return False


def duplicate_flow(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """A new draft with the same draft definition and layout (any status may be copied)."""
    source = get_flow(session, org_id, flow_id)
    copy = Flow(
        org_id=org_id,
        name=f"{source.name} (copy)"[:200],
        description=source.description,
        status=DRAFT,
        trigger_type=source.trigger_type,
        definition=dict(source.definition),
        layout=dict(source.layout or {}),
    )
    session.add(copy)
    session.flush()
    return copy


def create_from_template(
    session: Session, org_id: uuid.UUID, key: str, name: str | None = None
) -> Flow:
    template = library.library_flow(key)
    if template is None:
        known = ", ".join(f.key for f in library.library())
        raise InvalidInput.for_field("template", f"no flow template {key!r} (known: {known})")
    return create_flow(
        session,
        org_id,
        name=name or template.name,
        description=template.description[:255],
        definition=template.definition,
    )


# --- Publishing ----------------------------------------------------------------------------------


def publish_problems(
    session: Session, org_id: uuid.UUID, definition: FlowDefinition
) -> list[FieldError]:
    """What stops a definition from running in this organization: templates and segments it
    names that are not the organization's, webhook URLs that may not be called. Each problem
    names the step and field (`definition.steps[2].email.template_id`)."""
    problems = [FieldError(f"definition.{p.field}", p.reason) for p in validate_graph(definition)]
    template_ids = set(
        session.scalars(
            sa.select(EmailTemplate.id).where(
                EmailTemplate.org_id == org_id,
                EmailTemplate.id.in_(
                    [s.email.template_id for s in definition.steps if s.type == "send_email"]
                ),
            )
        )
    )
    sms_template_ids = set(
        session.scalars(
            sa.select(SmsTemplate.id).where(
                SmsTemplate.org_id == org_id,
                SmsTemplate.id.in_(
                    [
                        s.sms.template_id
                        for s in definition.steps
                        if s.type == "send_sms" and s.sms.template_id is not None
                    ]
                ),
            )
        )
    )
    named_segments: set[uuid.UUID] = set()
    for condition in _conditions(definition):
        named_segments |= referenced_segments(condition)
    trigger = definition.trigger
    if trigger.type in ("segment_entered", "segment_exited"):
        named_segments.add(trigger.segment_id)
    for step in definition.steps:
        if step.type == "wait" and step.wait_for.type == "segment_entered":
            named_segments.add(step.wait_for.segment_id)
    segment_ids = set(
        session.scalars(
            sa.select(Segment.id).where(Segment.org_id == org_id, Segment.id.in_(named_segments))
        )
    )

    def segment_problem(field: str, segment_id: uuid.UUID) -> None:
        if segment_id == library.UNCHOSEN:
            problems.append(FieldError(field, "choose a segment"))
        elif segment_id not in segment_ids:
            problems.append(FieldError(field, f"no segment {segment_id} in this organization"))

    if trigger.type in ("segment_entered", "segment_exited"):
        segment_problem("definition.trigger.segment_id", trigger.segment_id)
    if definition.filters is not None:
        for segment_id in sorted(referenced_segments(definition.filters), key=str):
            if segment_id not in segment_ids:
                problems.append(
                    FieldError(
                        "definition.filters", f"no segment {segment_id} in this organization"
                    )
                )
    for position, step in enumerate(definition.steps):
        where = f"definition.steps[{position}]"
        if step.type == "send_email":
            template_id = step.email.template_id
            if template_id == library.UNCHOSEN:
                problems.append(
                    FieldError(f"{where}.email.template_id", "choose an email template")
                )
            elif template_id not in template_ids:
                problems.append(
                    FieldError(
                        f"{where}.email.template_id",
                        f"no email template {template_id} in this organization",
                    )
                )
        elif step.type == "send_sms":
            problem = _sms_problem(step.sms, sms_template_ids)
            if problem is not None:
                problems.append(FieldError(f"{where}.sms.{problem[0]}", problem[1]))
        elif step.type == "wait" and step.wait_for.type == "segment_entered":
            segment_problem(f"{where}.wait_for.segment_id", step.wait_for.segment_id)
        elif step.type == "conditional_split":
            for segment_id in sorted(referenced_segments(step.condition), key=str):
                if segment_id not in segment_ids:
                    problems.append(
                        FieldError(
                            f"{where}.condition", f"no segment {segment_id} in this organization"
                        )
                    )
        elif step.type == "webhook":
            try:
                check_url(step.webhook.url)
            except DestinationRefused as exc:
                problems.append(FieldError(f"{where}.webhook.url", str(exc)))
    return problems


def _sms_problem(sms: FlowSmsSettings, known: set[uuid.UUID]) -> tuple[str, str] | None:
    """What stops an SMS step from sending: no text yet, or a template that is not the
    organization's (field, reason)."""
    if sms.template_id is not None:
        if sms.template_id not in known:
            return "template_id", f"no SMS template {sms.template_id} in this organization"
        return None
    if not (sms.body or "").strip():
        return "body", "write the text (or choose a saved SMS template)"
    return None


def _conditions(definition: FlowDefinition) -> list[Definition]:
    found = [definition.filters] if definition.filters is not None else []
    found += [s.condition for s in definition.steps if s.type == "conditional_split"]
    return found


def publish(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """Check the draft and run it as a new version (unless it is the published one unchanged);
    a draft flow goes live, a paused one stays paused until resumed. What happens to the people
    standing in the flow is the engine's rule (`enrolments.publish`, docs/flows.md)."""
    flow = get_flow(session, org_id, flow_id)
    if flow.status == ARCHIVED:
        raise Conflict("an archived flow cannot be published; duplicate it instead")
    definition = draft_of(flow)
    problems = publish_problems(session, org_id, definition)
    if problems:
        raise InvalidInput.for_fields(problems)
    published = published_definitions(session, [flow]).get(flow.id)
    if flow.published_version is not None and not has_unpublished_changes(flow, published):
        return flow
    enrolments.publish(session, org_id, flow.id, definition)
    return flow


# --- Status --------------------------------------------------------------------------------------


def pause(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """Nothing enters and no step runs; enrolments stay where they are until resumed."""
    return enrolments.pause(session, org_id, flow_id)


def resume(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """Live again: steps that fell due while paused run, in due order."""
    return enrolments.resume(session, org_id, flow_id)


def archive(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """The flow stops for good: every enrolment still in it exits ("flow archived")."""
    flow = get_flow(session, org_id, flow_id)
    if flow.status == ARCHIVED:
        raise Conflict("the flow is already archived")
    return enrolments.archive(session, org_id, flow_id)


# --- Enrolments ----------------------------------------------------------------------------------


def list_enrolments(
    session: Session,
    org_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    status: str | None = None,
    step_id: str | None = None,
    profile_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[FlowEnrolment], str | None]:
    """Newest entry first, by keyset cursor; filtered by status, current step, profile."""
    flow = get_flow(session, org_id, flow_id)
    query = scoped(FlowEnrolment, org_id).where(FlowEnrolment.flow_id == flow.id)
    if status is not None:
        query = query.where(FlowEnrolment.status == status)
    if step_id is not None:
        query = query.where(FlowEnrolment.current_step == step_id)
    if profile_id is not None:
        query = query.where(FlowEnrolment.profile_id == profile_id)
    return newest_first_page(
        session,
        query,
        FlowEnrolment.entered_at,
        FlowEnrolment.id,
        limit=limit,
        cursor=cursor,
    )


def get_enrolment(
    session: Session, org_id: uuid.UUID, flow_id: uuid.UUID, enrolment_id: uuid.UUID
) -> FlowEnrolment:
    flow = get_flow(session, org_id, flow_id)
    enrolment = session.scalar(
        scoped(FlowEnrolment, org_id).where(
            FlowEnrolment.flow_id == flow.id, FlowEnrolment.id == enrolment_id
        )
    )
    if enrolment is None:
        raise NotFound("enrolment not found")
    return enrolment


def histories(
    session: Session, enrolment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[FlowStepRun]]:
    """The steps each enrolment took, in order."""
    found: dict[uuid.UUID, list[FlowStepRun]] = {e: [] for e in enrolment_ids}
    if not enrolment_ids:
        return found
    runs = session.scalars(
        sa.select(FlowStepRun)
        .where(FlowStepRun.enrolment_id.in_(enrolment_ids))
        .order_by(FlowStepRun.at, FlowStepRun.id)
    )
    for run in runs:
        found[run.enrolment_id].append(run)
    return found


def profile_enrolments(
    session: Session, org_id: uuid.UUID, profile_id: uuid.UUID, limit: int = 100
) -> list[FlowEnrolment]:
    """The profile's enrolments in every flow, the ones still running first, then newest."""
    running = sa.case((FlowEnrolment.status.in_(("active", "waiting")), 0), else_=1)
    return list(
        session.scalars(
            scoped(FlowEnrolment, org_id)
            .where(FlowEnrolment.profile_id == profile_id)
            .order_by(running, FlowEnrolment.entered_at.desc(), FlowEnrolment.id.desc())
            .limit(limit)
        )
    )


def flow_names(session: Session, flow_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not flow_ids:
        return {}
    return dict(session.execute(sa.select(Flow.id, Flow.name).where(Flow.id.in_(flow_ids))).all())


def enrol_by_api(
    session: Session, org_id: uuid.UUID, flow_id: uuid.UUID, request: EnrolRequest
) -> EnrolResult:
    """Enrol the profile the reference names (found, or created as /api/track would) in a live
    flow with an API trigger; the re-entry rules and the flow's filters apply."""
    get_flow(session, org_id, flow_id)
    reference = request.profile
    phone = phone_for(session, org_id, reference.phone) if reference.phone else None
    profile = resolve(
        session,
        org_id,
        ProfileRef(
            reference.id, reference.email, phone, reference.external_id, reference.anonymous_id
        ),
    ).profile
    outcome = enrolments.enrol_by_api(
        session, org_id, flow_id, profile.id, request.payload, request.unique_id
    )
    return EnrolResult(
        enrolment_id=outcome.enrolment_id,
        profile_id=outcome.profile_id,
        created=outcome.created,
        reason=outcome.reason,
    )


def remove_enrolment(
    session: Session, org_id: uuid.UUID, flow_id: uuid.UUID, enrolment_id: uuid.UUID
) -> FlowEnrolment:
    """Take the person out of the flow; an enrolment that already ended is left as it was."""
    flow = get_flow(session, org_id, flow_id)
    return enrolments.remove_enrolment(session, org_id, flow.id, enrolment_id)
