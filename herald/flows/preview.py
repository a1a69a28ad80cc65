"""Trying a flow with one profile: the path they would take if they entered now, with each email
rendered for them (by the template rendering campaigns and previews use) and nothing sent,
stored or changed.

The flow is read as if the profile entered at this moment: conditions are evaluated on their
data as it is now, and "since starting this flow" counts from now (so nothing yet). A delay is
described, not waited; a wait step is shown taking its timeout (`no`) path, since the event it
waits for has not happened yet; a random split shows the branch this profile's id picks.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from herald.db import json_text, utcnow
from herald.errors import InvalidInput
from herald.flows import schemas
from herald.flows.definition import DelaySettings, FlowDefinition
from herald.flows.enrolments import entry_refusal, matching_profiles
from herald.flows.library import UNCHOSEN
from herald.flows.steps import event_view, random_branch
from herald.messaging import consent
from herald.models import EmailTemplate, Flow, Organization, Profile
from herald.segments.compiler import compare_json
from herald.segments.definition import Definition, EventFilter
from herald.sms import templates as sms_templates
from herald.templates import service as templates
from herald.templates.rendering import (
    TemplateError,
    TemplateParts,
    build_context,
    parts_of,
    profile_context,
    render_text,
)

_BRANCHING = ("wait", "conditional_split", "trigger_split", "random_split")


def test_flow(
    session: Session,
    flow: Flow,
    definition: FlowDefinition,
    profile: Profile,
    payload: dict[str, Any],
) -> schemas.FlowTestResult:
    now = utcnow()
    trigger_filters = definition.trigger.filters if definition.trigger.type == "metric" else []
    if trigger_filters and not _payload_matches(session, trigger_filters, payload, now):
        return schemas.FlowTestResult(
            enters=False,
            reason="the payload does not match the trigger's filters",
            path=[],
        )
    refusal = entry_refusal(session, flow.id, definition, profile.id, now)
    if refusal is not None:
        return schemas.FlowTestResult(enters=False, reason=refusal, path=[])
    if definition.filters is not None and not _matches(
        session, flow, definition.filters, profile, now
    ):
        return schemas.FlowTestResult(
            enters=False, reason="the profile does not match the flow's filters now", path=[]
        )
    trigger: dict[str, Any] = {
        "type": definition.trigger.type,
        "time": now.isoformat(),
        "properties": payload,
    }
    if definition.trigger.type == "metric":
        trigger["metric"] = definition.trigger.metric
    event = event_view(trigger)
    path: list[schemas.FlowTestStep] = []
    step_id = definition.start
    while step_id is not None:
        step = definition.step(step_id)
        result = _try_step(session, flow, step, profile, payload, event, now)
        path.append(result)
        # Splits and waits continue on the output they took; the rest on `next`.
        output = result.outcome if step.type in _BRANCHING else "next"
        step_id = step.outputs.get(output)
    return schemas.FlowTestResult(enters=True, reason=None, path=path)


def _try_step(
    session: Session,
    flow: Flow,
    step: Any,
    profile: Profile,
    payload: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
) -> schemas.FlowTestStep:
    def result(outcome: str, detail: str, **extra: Any) -> schemas.FlowTestStep:
        return schemas.FlowTestStep(
            step_id=step.id, type=step.type, outcome=outcome, detail=detail, **extra
        )

    if step.type == "delay":
        return result("next", f"waits {_describe_delay(step.delay)}")
    if step.type == "wait":
        waited = f"{step.wait_for.metric!r}" if step.wait_for.type == "event" else "a segment entry"
        return result(
            "no",
            f"waits up to {step.timeout.amount} {step.timeout.unit} for {waited}; shown as if "
            "the time runs out",
        )
    if step.type == "conditional_split":
        matched = _matches(session, flow, step.condition, profile, now)
        return result(
            "yes" if matched else "no",
            "matches the condition now" if matched else "does not match the condition now",
        )
    if step.type == "trigger_split":
        matched = _payload_matches(session, step.filters, payload, now)
        return result(
            "yes" if matched else "no",
            "the trigger's properties match"
            if matched
            else "the trigger's properties do not match",
        )
    if step.type == "random_split":
        # The engine picks by the enrolment's id; a trial has none, so one made from the profile.
        branch = random_branch(uuid.uuid5(flow.id, str(profile.id)), step)
        return result(branch, f"branch {branch!r} (by weight; this profile's pick)")
    if step.type == "send_email":
        return _try_email(session, flow, step, profile, event)
    if step.type == "send_sms":
        return _try_sms(session, flow, step, profile, event)
    if step.type == "update_profile":
        changes = [f"set {k}" for k in step.update.set]
        changes += [f"unset {k}" for k in step.update.unset]
        changes += [f"increment {k} by {v:g}" for k, v in step.update.increment.items()]
        return result("would_update", "; ".join(changes))
    if step.type == "webhook":
        context = {
            "profile": profile_context(profile),
            "event": event,
            "flow": {
                "id": str(flow.id),
                "name": flow.name,
                "enrolment_id": None,
                "step_id": step.id,
            },
        }
        try:
            body = (
                render_text(step.webhook.body, context, "webhook.body")
                if step.webhook.body is not None
                else json.dumps(context, default=str, ensure_ascii=False)
            )
        except TemplateError as exc:
            problem = "; ".join(p.describe() for p in exc.problems)
            return result("render_failed", f"the body does not render: {problem}")
        return result("would_call", f"POST {step.webhook.url} (signed)", webhook_body=body)
    return result("exit", "the enrolment ends here")


def _try_sms(
    session: Session, flow: Flow, step: Any, profile: Profile, event: dict[str, Any]
) -> schemas.FlowTestStep:
    """The text rendered for the profile as the SMS sender renders it (before links are
    shortened and the opt-out sentence added), and whether it would go."""
    settings = step.sms

    def result(outcome: str, detail: str, **extra: Any) -> schemas.FlowTestStep:
        return schemas.FlowTestStep(
            step_id=step.id, type=step.type, outcome=outcome, detail=detail, **extra
        )

    source = settings.body
    if settings.template_id is not None:
        saved = sms_templates.bodies(session, flow.org_id, [settings.template_id])
        if settings.template_id not in saved:
            return result("no_template", f"no SMS template {settings.template_id}")
        source = saved[settings.template_id].body
    if not (source or "").strip():
        return result("no_text", "the text is not written yet")
    organization = session.get(Organization, flow.org_id)
    assert organization is not None
    context = build_context(profile=profile, organization=organization, settings=None, event=event)
    try:
        body = render_text(source or "", context, "sms.body").strip()
    except TemplateError as exc:
        problem = "; ".join(p.describe() for p in exc.problems)
        return result("render_failed", f"the text does not render: {problem}")
    if not profile.phone:
        return result("would_skip", "the profile has no phone number", sms_body=body)
    if profile.id in consent.refused_among(session, flow.org_id, "sms", {profile.id}):
        return result("would_skip", "no current SMS consent", sms_body=body)
    if settings.status == "draft":
        return result(
            "would_record_draft",
            f"the step is a draft: records what would go to {profile.phone}",
            sms_body=body,
        )
    smart = f" (unless they got a marketing SMS in the last {settings.smart_sending_hours} h)"
    return result(
        "would_send",
        f"to {profile.phone}, outside quiet hours{smart if settings.smart_sending else ''}",
        sms_body=body,
    )


def _describe_delay(delay: DelaySettings) -> str:
    if delay.until is not None:
        days = ", ".join(day.capitalize() for day in delay.until.weekdays)
        return f"until the next {days} at {delay.until.time_of_day} in their time zone"
    return f"{delay.amount} {delay.unit}"


def _try_email(
    session: Session, flow: Flow, step: Any, profile: Profile, event: dict[str, Any]
) -> schemas.FlowTestStep:
    settings = step.email

    def result(outcome: str, detail: str, **extra: Any) -> schemas.FlowTestStep:
        return schemas.FlowTestStep(
            step_id=step.id, type=step.type, outcome=outcome, detail=detail, **extra
        )

    if settings.template_id == UNCHOSEN:
        return result("no_template", "no email template chosen yet")
    template = session.scalar(
        sa.select(EmailTemplate).where(
            EmailTemplate.org_id == flow.org_id, EmailTemplate.id == settings.template_id
        )
    )
    if template is None:
        return result("no_template", f"no email template {settings.template_id}")
    parts = parts_of(template)
    if settings.subject:
        parts = TemplateParts(
            subject=settings.subject, preheader=parts.preheader, html=parts.html, text=parts.text
        )
    try:
        rendered = templates.preview(
            session, flow.org_id, parts, profile_id=profile.id, sample={"event": event}
        )
    except InvalidInput as exc:
        return result("render_failed", exc.message)
    message = schemas.RenderedMessage(
        subject=rendered.subject, html=rendered.html, text=rendered.text
    )
    if not profile.email:
        return result("would_skip", "the profile has no email address", rendered=message)
    if settings.status == "draft":
        return result(
            "would_record_draft",
            f"the step is a draft: records what would go to {profile.email}",
            rendered=message,
        )
    smart = f" (unless they got marketing email in the last {settings.smart_sending_hours} h)"
    return result(
        "would_send",
        f"to {profile.email}{smart if settings.smart_sending else ''}",
        rendered=message,
    )


def _matches(
    session: Session, flow: Flow, condition: Definition, profile: Profile, now: datetime
) -> bool:
    """Whether the profile matches now, had they entered the flow now (the engine's check)."""
    return profile.id in matching_profiles(session, flow.org_id, condition, [profile.id], now, now)


def _payload_matches(
    session: Session, filters: list[EventFilter], payload: dict[str, Any], now: datetime
) -> bool:
    """Whether the payload's properties match every filter, compared by the compiler's rules."""
    document: Any = sa.literal(json.dumps(payload), sa.String)
    if session.get_bind().dialect.name == "postgresql":
        document = sa.cast(document, postgresql.JSONB)
    checks = [compare_json(f, json_text(document, f.property), now) for f in filters]
    return bool(session.scalar(sa.select(sa.and_(*checks))))
