/**
 * Places the API's field errors about a flow on what the builder shows: the trigger, the flow's
 * filters (by condition, as the segment builder places them), re-entry, and each step (found by
 * its index: `definition.steps[3].delay.amount` is about the fourth step).
 */
import { partLabel, placeErrors, plainReason } from "../segments/definition";
import type { GraphShape } from "./graph";

export interface StepErrors {
  /** What the step's panel says about the step itself and its settings. */
  messages: string[];
  /** Errors in the conditions of a conditional split, by condition (`pathKey`). */
  conditions: Record<string, string[]>;
}

export interface FlowErrors {
  trigger: string[];
  /** Errors in the flow filters, by condition (`pathKey`). */
  filters: Record<string, string[]>;
  reentry: string[];
  /** By step id. */
  steps: Record<string, StepErrors>;
  /** Anything else (the name, the definition as a whole). */
  other: string[];
}

export function noFlowErrors(): FlowErrors {
  return { trigger: [], filters: {}, reentry: [], steps: {}, other: [] };
}

const PART_WORDS: Record<string, string> = {
  amount: "Amount",
  body: "Body",
  branches: "Branches",
  delay: "Delay",
  email: "Email",
  field: "Field",
  from_email: "Sender address",
  from_name: "Sender name",
  headers: "Headers",
  id: "Id",
  increment: "Increment",
  metric: "Event",
  mode: "Mode",
  name: "Name",
  offset_days: "Days before or after",
  outputs: "Outputs",
  period: "Period",
  property: "Property",
  recurrence: "Recurrence",
  segment_id: "Segment",
  set: "Set",
  smart_sending_hours: "Smart sending hours",
  sms: "SMS",
  media_urls: "Media URLs",
  steps: "Step",
  subject: "Subject",
  template_id: "Template",
  time_of_day: "Time of day",
  timeout: "Timeout",
  type: "Type",
  unit: "Unit",
  unset: "Unset",
  until: "Until",
  update: "Update",
  url: "URL",
  wait_for: "Wait for",
  webhook: "Webhook",
  weekdays: "Weekdays",
  weight: "Weight",
};

/** "delay.amount" -> "Delay › Amount"; "branches[1].name" -> "Branches 2 › Name"; event filters
 * as the segment builder names them ("Property filter 1, value"). */
export function describePart(part: string): string {
  const filters = /(^|\.)(filters\[\d+\](?:\..+)?)$/.exec(part);
  const head = filters ? part.slice(0, filters.index) : part;
  const words = head
    .split(".")
    .filter(Boolean)
    .map((piece) =>
      piece.replace(/^([a-z_]+)(?:\[(\d+)\])?$/, (_, word: string, index?: string) => {
        const label = PART_WORDS[word] ?? word.replace(/_/g, " ");
        return index === undefined ? label : `${label} ${Number(index) + 1}`;
      }),
    );
  if (filters) words.push(partLabel(filters[2]!));
  return words.join(" › ");
}

/** The reason as a person reads it: without Pydantic's "Value error, " in front. */
function readable(reason: string): string {
  return plainReason(reason.replace(/^(Value error|Assertion failed), /, ""));
}

function withPart(part: string, reason: string): string {
  const plain = readable(reason);
  return part ? `${describePart(part)}: ${plain}` : plain;
}

/** The API's field errors for a flow's `definition` (also accepted under `draft`), placed. */
export function placeFlowErrors(fields: readonly { field: string; reason: string }[], graph: GraphShape): FlowErrors {
  const placed = noFlowErrors();
  const stepErrors = (id: string): StepErrors => (placed.steps[id] ??= { messages: [], conditions: {} });
  for (const { field, reason } of fields) {
    const prefix = /^(definition|draft)(?=$|\.)/.exec(field);
    if (!prefix) {
      placed.other.push(field && field !== "body" ? `${describePart(field)}: ${readable(reason)}` : readable(reason));
      continue;
    }
    const rest = field.slice(prefix[0].length).replace(/^\./, "");
    const step = /^steps\[(\d+)\](?:\.(.*))?$/.exec(rest);
    if (step) {
      const id = graph.steps[Number(step[1])]?.id;
      const part = step[2] ?? "";
      if (id === undefined) {
        placed.other.push(withPart(rest, reason));
      } else if (part === "condition" || part.startsWith("condition.")) {
        const conditions = placeErrors([{ field: `definition${part.slice("condition".length)}`, reason }]).byCondition;
        for (const [key, messages] of Object.entries(conditions)) (stepErrors(id).conditions[key] ??= []).push(...messages);
      } else {
        stepErrors(id).messages.push(withPart(part, reason));
      }
    } else if (rest === "start") {
      placed.trigger.push(`First step: ${readable(reason)}`);
    } else if (rest === "trigger" || rest.startsWith("trigger.")) {
      placed.trigger.push(withPart(rest.slice("trigger".length).replace(/^\./, ""), reason));
    } else if (rest === "filters" || rest.startsWith("filters.")) {
      const conditions = placeErrors([{ field: `definition${rest.slice("filters".length)}`, reason }]).byCondition;
      for (const [key, messages] of Object.entries(conditions)) (placed.filters[key] ??= []).push(...messages);
    } else if (rest === "reentry" || rest.startsWith("reentry.")) {
      placed.reentry.push(withPart(rest.slice("reentry".length).replace(/^\./, ""), reason));
    } else {
      placed.other.push(withPart(rest, reason));
    }
  }
  return placed;
}

/** How many problems the step has (the canvas marks a step that has any). */
export function problemCount(errors: StepErrors | undefined): number {
  if (!errors) return 0;
  return errors.messages.length + Object.values(errors.conditions).reduce((sum, list) => sum + list.length, 0);
}
