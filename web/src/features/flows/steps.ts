/** What each kind of step is called, what a new one holds, and how the canvas sums it up in a
 * line; the same for triggers. Without React, so that it can be tested. */
import { emptyDefinition } from "../segments/definition";
import { NO_TEMPLATE, toDocument, type Flow, type FlowDefinition, type Step, type StepType, type Trigger, type TriggerType } from "./types";

export interface StepKind {
  type: StepType;
  label: string;
  description: string;
  group: "Timing" | "Logic" | "Actions";
}

export const STEP_KINDS: readonly StepKind[] = [
  { type: "delay", label: "Time delay", description: "Wait an amount of time, or until a weekday and time.", group: "Timing" },
  { type: "wait", label: "Wait for event", description: "Wait until they do an event or enter a segment, with a timeout.", group: "Timing" },
  { type: "conditional_split", label: "Conditional split", description: "Yes or no on profile conditions, checked now.", group: "Logic" },
  { type: "trigger_split", label: "Trigger split", description: "Yes or no on the trigger event's properties.", group: "Logic" },
  { type: "random_split", label: "Random split", description: "2 to 7 weighted branches, the same for each enrolment.", group: "Logic" },
  { type: "send_email", label: "Email", description: "Send an email template (or record it, as a draft).", group: "Actions" },
  { type: "send_sms", label: "SMS", description: "Send a text message (SMS consent, quiet hours and STOP apply).", group: "Actions" },
  { type: "update_profile", label: "Update profile", description: "Set, unset or increment profile properties.", group: "Actions" },
  { type: "webhook", label: "Webhook", description: "POST signed JSON to a URL.", group: "Actions" },
  { type: "exit", label: "Exit", description: "End the flow here.", group: "Actions" },
];

export function stepKind(type: string): StepKind | undefined {
  return STEP_KINDS.find((kind) => kind.type === type);
}

/** A new step of `type` with `id`, holding what a person most often wants (its outputs lead
 * nowhere yet). Email steps name no template until one is chosen. */
export function newStep(type: StepType, id: string): Step {
  const outputs = {};
  switch (type) {
    case "delay":
      return { id, type, outputs, delay: { amount: 1, unit: "days" } };
    case "wait":
      return { id, type, outputs, wait_for: { type: "event", metric: "", filters: [] }, timeout: { amount: 1, unit: "days" } };
    case "conditional_split":
      return { id, type, outputs, condition: emptyDefinition() };
    case "trigger_split":
      return { id, type, outputs, filters: [{ property: "", operator: "equals", value: "", unit: "days", value_type: "string" }] };
    case "random_split":
      return {
        id,
        type,
        outputs,
        branches: [
          { name: "a", weight: 50 },
          { name: "b", weight: 50 },
        ],
      };
    case "send_email":
      return { id, type, outputs, email: { template_id: NO_TEMPLATE, smart_sending: true, smart_sending_hours: 16, status: "live" } };
    case "send_sms":
      return { id, type, outputs, sms: { body: "", template_id: null, media_urls: [], smart_sending: true, smart_sending_hours: 24, status: "live" } };
    case "update_profile":
      return { id, type, outputs, update: { set: {}, unset: [], increment: {} } };
    case "webhook":
      return { id, type, outputs, webhook: { url: "https://", headers: {} } };
    case "exit":
      return { id, type, outputs };
  }
}

function plural(amount: number, unit: string): string {
  return `${amount} ${amount === 1 ? unit.replace(/s$/, "") : unit}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** One line about what the step does, for its node on the canvas. `templateName` finds the
 * name of an email template by id, `smsTemplateName` an SMS template's. */
export function summarizeStep(
  step: Step,
  templateName: (id: string) => string | undefined = () => undefined,
  smsTemplateName: (id: string) => string | undefined = () => undefined,
): string {
  switch (step.type) {
    case "delay": {
      const { delay } = step;
      if (delay.until) {
        const days = delay.until.weekdays.length === 7 ? "any day" : delay.until.weekdays.map((d) => capitalize(d.slice(0, 3))).join(", ");
        return `Until ${days} at ${delay.until.time_of_day}`;
      }
      return `Wait ${plural(delay.amount ?? 0, delay.unit ?? "days")}`;
    }
    case "wait": {
      const what = step.wait_for.type === "event" ? step.wait_for.metric || "an event" : "a segment entry";
      return `Until ${what}, at most ${plural(step.timeout.amount, step.timeout.unit ?? "days")}`;
    }
    case "conditional_split": {
      const count = step.condition.conditions?.length ?? 0;
      return count === 0 ? "No conditions yet" : `${count} condition${count === 1 ? "" : "s"}`;
    }
    case "trigger_split":
      return `${step.filters.length} trigger propert${step.filters.length === 1 ? "y" : "ies"}`;
    case "random_split":
      return step.branches.map((b) => `${b.name} ${b.weight}`).join(" · ");
    case "send_email": {
      if (step.email.template_id === NO_TEMPLATE) return "Choose a template";
      const name = templateName(step.email.template_id) ?? "A template";
      return step.email.status === "draft" ? `${name} (draft)` : name;
    }
    case "send_sms": {
      const { sms } = step;
      const draft = sms.status === "draft" ? " (draft)" : "";
      if (sms.template_id) return `${smsTemplateName(sms.template_id) ?? "An SMS template"}${draft}`;
      const body = (sms.body ?? "").trim();
      if (!body) return "Write the text";
      return `${body.length > 60 ? `${body.slice(0, 57)}…` : body}${draft}`;
    }
    case "update_profile": {
      const update = step.update;
      const names = [...Object.keys(update.set ?? {}), ...(update.unset ?? []), ...Object.keys(update.increment ?? {})];
      return names.length ? `Changes ${names.join(", ")}` : "Nothing to change yet";
    }
    case "webhook":
      return step.webhook.url;
    case "exit":
      return "Leaves the flow";
  }
}

export const TRIGGER_TYPES: { value: TriggerType; label: string }[] = [
  { value: "metric", label: "Someone does an event" },
  { value: "segment_entered", label: "Someone enters a segment" },
  { value: "segment_exited", label: "Someone leaves a segment" },
  { value: "date_property", label: "A date of the profile" },
  { value: "api", label: "An API call" },
];

/** A trigger of another type, keeping what it can. */
export function newTrigger(type: TriggerType, previous?: Trigger): Trigger {
  switch (type) {
    case "metric":
      return { type, metric: previous?.type === "metric" ? previous.metric : "", filters: [] };
    case "segment_entered":
    case "segment_exited":
      return { type, segment_id: previous && "segment_id" in previous ? previous.segment_id : "" };
    case "date_property":
      return { type, property: "birthday", recurrence: "yearly", offset_days: 0, time_of_day: "09:00" };
    case "api":
      return { type };
  }
}

/** One line about who enters, for the trigger's node. */
export function summarizeTrigger(trigger: Trigger, segmentName: (id: string) => string | undefined = () => undefined): string {
  switch (trigger.type) {
    case "metric": {
      const filters = trigger.filters?.length ?? 0;
      const metric = trigger.metric || "(choose an event)";
      return filters ? `${metric}, ${filters} filter${filters === 1 ? "" : "s"}` : metric;
    }
    case "segment_entered":
    case "segment_exited": {
      const name = trigger.segment_id ? (segmentName(trigger.segment_id) ?? "A segment") : "(choose a segment)";
      return `${trigger.type === "segment_entered" ? "Enters" : "Leaves"} ${name}`;
    }
    case "date_property": {
      const source = trigger.property ?? trigger.field ?? "a date";
      const offset = trigger.offset_days ?? 0;
      const when =
        offset === 0 ? "on" : `${plural(Math.abs(offset), "days")} ${offset < 0 ? "before" : "after"}`;
      return `${when} ${source}${trigger.recurrence === "once" ? "" : " (yearly)"} at ${trigger.time_of_day ?? "09:00"}`;
    }
    case "api":
      return "POST /api/flows/{id}/enrol";
  }
}

/** A blank flow: entered through the API (the one trigger that needs no settings, so that the
 * draft is valid from the start) until another trigger is chosen, and nothing happens yet. */
export function blankDefinition(): FlowDefinition {
  return { version: 1, trigger: newTrigger("api"), reentry: { mode: "every_time" }, start: null, steps: [] };
}

/** "Email (send-email-1)", or the step's own label: how lists name a step. */
export function stepNamesOf(flow: Flow): Record<string, string> {
  const names: Record<string, string> = {};
  const definitions = [toDocument(flow).definition, ...(flow.published ? [flow.published] : [])];
  for (const definition of definitions) {
    for (const step of definition.steps ?? []) {
      names[step.id] ??= step.name || `${stepKind(step.type)?.label ?? step.type} (${step.id})`;
    }
  }
  return names;
}
