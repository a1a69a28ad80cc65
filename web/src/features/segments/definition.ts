/**
 * The segment builder's logic, without React. The builder's state *is* the API's definition JSON
 * (herald/segments/definition.py): these functions read and change it immutably, say which
 * operators and inputs fit a value type, and place the API's field errors on conditions.
 */
import type { Schemas } from "../../api/client";
import {
  DESCRIPTIVE_FIELDS,
  IDENTIFIER_FIELDS,
  LOCATION_NUMBER_FIELDS,
  LOCATION_TEXT_FIELDS,
} from "../../lib/profileFields";

export type Definition = Schemas["Definition-Input"];
export type GroupCondition = Schemas["Group-Input"];
export type ProfileCondition = Schemas["ProfileCondition"];
export type EventCondition = Schemas["EventCondition"];
export type EventFilter = Schemas["EventFilter"];
export type EventWindow = Schemas["EventWindow"];
export type SegmentCondition = Schemas["SegmentCondition"];
export type ConsentCondition = Schemas["ConsentCondition"];
export type Condition = Definition["conditions"][number];
export type Leaf = Exclude<Condition, GroupCondition>;
export type ValueType = "string" | "number" | "boolean" | "date";
export type Operator = ProfileCondition["operator"];
export type TimeUnit = ProfileCondition["unit"];
export type Scalar = string | number | boolean;
/** The part that profile conditions and event filters share. */
export type Predicate = Omit<ProfileCondition, "type" | "field" | "property">;
/** A group or the root: what holds conditions. */
export interface GroupLike {
  match: "all" | "any";
  negate: boolean;
  conditions?: Condition[];
}
/** Indices from the root, one per level: [] is the root, [2, 0] the first condition of its third. */
export type Path = readonly number[];

export const MAX_DEPTH = 5;
export const MAX_CONDITIONS = 100;
export const MAX_FILTERS = 10;

// --- Fields and operators --------------------------------------------------------------------

export const TEXT_FIELDS = [...IDENTIFIER_FIELDS, ...DESCRIPTIVE_FIELDS, ...LOCATION_TEXT_FIELDS] as const;
export const NUMBER_FIELDS = LOCATION_NUMBER_FIELDS;
export const DATETIME_FIELDS = ["created_at", "updated_at"] as const;

const FIELD_LABELS: Record<string, string> = {
  email: "Email",
  phone: "Phone",
  external_id: "External id",
  first_name: "First name",
  last_name: "Last name",
  timezone: "Time zone",
  address1: "Address line 1",
  address2: "Address line 2",
  city: "City",
  region: "Region",
  country: "Country",
  zip: "ZIP / postal code",
  latitude: "Latitude",
  longitude: "Longitude",
  created_at: "Created",
  updated_at: "Updated",
};

export function fieldLabel(field: string): string {
  return FIELD_LABELS[field] ?? field;
}

/** The type a built-in field compares as (null: not a built-in field). */
export function builtinType(field: string): ValueType | null {
  if ((NUMBER_FIELDS as readonly string[]).includes(field)) return "number";
  if ((DATETIME_FIELDS as readonly string[]).includes(field)) return "date";
  if ((TEXT_FIELDS as readonly string[]).includes(field)) return "string";
  return null;
}

export const VALUE_TYPES: { value: ValueType; label: string }[] = [
  { value: "string", label: "Text" },
  { value: "number", label: "Number" },
  { value: "boolean", label: "True / false" },
  { value: "date", label: "Date" },
];

const STRING_OPERATORS: Operator[] = [
  "equals",
  "not_equals",
  "contains",
  "not_contains",
  "starts_with",
  "ends_with",
  "in",
  "not_in",
  "is_set",
  "is_not_set",
];
const NUMBER_OPERATORS: Operator[] = [
  "equals",
  "not_equals",
  "greater_than",
  "less_than",
  "between",
  "in",
  "not_in",
  "is_set",
  "is_not_set",
];
const BOOLEAN_OPERATORS: Operator[] = ["equals", "not_equals", "is_set", "is_not_set"];
const DATE_OPERATORS: Operator[] = [
  "in_the_last",
  "more_than_ago",
  "in_the_next",
  "anniversary_within",
  "greater_than",
  "less_than",
  "between",
  "equals",
  "not_equals",
  "is_set",
  "is_not_set",
];
export const RELATIVE_DATE_OPERATORS: readonly Operator[] = [
  "in_the_last",
  "more_than_ago",
  "in_the_next",
  "anniversary_within",
];

/** The operators a value type allows, in the order the builder offers them. */
export function operatorsFor(type: ValueType): Operator[] {
  switch (type) {
    case "string":
      return STRING_OPERATORS;
    case "number":
      return NUMBER_OPERATORS;
    case "boolean":
      return BOOLEAN_OPERATORS;
    case "date":
      return DATE_OPERATORS;
  }
}

const OPERATOR_LABELS: Record<Operator, string> = {
  equals: "is",
  not_equals: "is not",
  contains: "contains",
  not_contains: "does not contain",
  starts_with: "starts with",
  ends_with: "ends with",
  is_set: "is set",
  is_not_set: "is not set",
  in: "is one of",
  not_in: "is none of",
  greater_than: "is greater than",
  less_than: "is less than",
  between: "is between",
  in_the_last: "is in the last",
  more_than_ago: "is more than … ago",
  in_the_next: "is in the next",
  anniversary_within: "has its anniversary within",
};

export function operatorLabel(operator: Operator, type: ValueType): string {
  if (type === "date") {
    if (operator === "greater_than") return "is after";
    if (operator === "less_than") return "is before";
    if (operator === "equals") return "is on";
    if (operator === "not_equals") return "is not on";
  }
  return OPERATOR_LABELS[operator];
}

/** What the value part of a predicate looks like for its type and operator. */
export type ValueInput =
  | "none"
  | "text"
  | "number"
  | "boolean"
  | "date"
  | "list"
  | "number-range"
  | "date-range"
  | "relative"
  | "days";

export function valueInput(type: ValueType, operator: Operator): ValueInput {
  if (operator === "is_set" || operator === "is_not_set") return "none";
  if (operator === "in" || operator === "not_in") return "list";
  if (operator === "anniversary_within") return "days";
  if (RELATIVE_DATE_OPERATORS.includes(operator)) return "relative";
  if (operator === "between") return type === "date" ? "date-range" : "number-range";
  if (type === "number") return "number";
  if (type === "boolean") return "boolean";
  if (type === "date") return "date";
  return "text";
}

export const TIME_UNITS: { value: TimeUnit; label: string }[] = [
  { value: "minutes", label: "minutes" },
  { value: "hours", label: "hours" },
  { value: "days", label: "days" },
  { value: "weeks", label: "weeks" },
];

// --- Predicates (profile conditions and event filters) -----------------------------------------

/** The type a predicate compares as, following the API: the built-in field's own, else the
 * declared `value_type`, else inferred from the operand. */
export function predicateType(predicate: Predicate, field?: string | null): ValueType {
  const builtin = field ? builtinType(field) : null;
  if (builtin) return builtin;
  if (predicate.value_type) return predicate.value_type;
  if (RELATIVE_DATE_OPERATORS.includes(predicate.operator)) return "date";
  const sample = predicate.value ?? predicate.values?.[0] ?? null;
  if (typeof sample === "boolean") return "boolean";
  if (typeof sample === "number") return "number";
  if (["greater_than", "less_than", "between"].includes(predicate.operator)) {
    return typeof sample === "string" ? "date" : "number";
  }
  return "string";
}

/** A predicate with another operator: operands that still fit are kept, the others dropped. */
export function withOperator<P extends Predicate>(
  predicate: P,
  operator: Operator,
  type: ValueType,
  fromType: ValueType = type,
): P {
  const before = valueInput(fromType, predicate.operator);
  const after = valueInput(type, operator);
  const next: P = { ...predicate, operator };
  if (before === after) return next;
  delete next.value;
  delete next.value_to;
  delete next.values;
  delete next.amount;
  next.unit = "days";
  const single = ["text", "number", "boolean", "date"];
  if (after === "list") {
    const kept = predicate.values ?? (predicate.value != null ? [predicate.value] : []);
    next.values = kept;
  } else if (after === "relative" || after === "days") {
    next.amount = predicate.amount ?? 30;
    next.unit = after === "days" ? "days" : predicate.unit;
  } else if (single.includes(after) || after === "number-range" || after === "date-range") {
    const first = predicate.value ?? predicate.values?.[0];
    if (first != null) next.value = first;
    if (after === "boolean" && typeof next.value !== "boolean") next.value = true;
  }
  return next;
}

/** A predicate compared as another type: the first operator of that type unless the current one
 * fits too, and operands converted where they can be. */
export function withValueType<P extends Predicate>(
  predicate: P,
  type: ValueType,
  fromType: ValueType = predicateType(predicate),
): P {
  const operators = operatorsFor(type);
  const operator = operators.includes(predicate.operator) ? predicate.operator : operators[0]!;
  const convert = (value: Scalar | null | undefined): Scalar | undefined =>
    value == null ? undefined : convertScalar(value, type);
  const next: P = { ...predicate, value_type: type };
  const value = convert(predicate.value);
  const valueTo = convert(predicate.value_to);
  if (value === undefined) delete next.value;
  else next.value = value;
  if (valueTo === undefined) delete next.value_to;
  else next.value_to = valueTo;
  if (predicate.values) {
    next.values = predicate.values
      .map((item) => convertScalar(item, type))
      .filter((item): item is Scalar => item !== undefined);
  }
  return withOperator(next, operator, type, fromType);
}

function convertScalar(value: Scalar, type: ValueType): Scalar | undefined {
  if (type === "number") {
    const number = typeof value === "number" ? value : parseNumber(String(value));
    return number ?? undefined;
  }
  if (type === "boolean") {
    if (typeof value === "boolean") return value;
    if (value === "true") return true;
    if (value === "false") return false;
    return undefined;
  }
  if (type === "date") {
    return typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? value : undefined;
  }
  return String(value);
}

/** A number typed into a text box, or null when it is not one. */
export function parseNumber(text: string): number | null {
  const trimmed = text.trim();
  if (!/^-?\d+(\.\d+)?$/.test(trimmed)) return null;
  return Number(trimmed);
}

/** List items typed as text, as the type's values (numbers stay text when they are not numbers,
 * so that the API can say which one is wrong). */
export function listValues(items: readonly string[], type: ValueType): Scalar[] {
  if (type !== "number") return [...items];
  return items.map((item) => parseNumber(item) ?? item);
}

// --- New conditions ----------------------------------------------------------------------------

export type NewConditionKind = "profile" | "event" | "segment" | "consent" | "group";

export function newCondition(kind: NewConditionKind): Condition {
  switch (kind) {
    case "profile":
      return { type: "profile", property: "", operator: "equals", value: "", unit: "days", value_type: "string" };
    case "event":
      return newEventCondition("");
    case "segment":
      return { type: "segment", segment_id: "", operator: "in" };
    case "consent":
      return { type: "consent", channel: "email", operator: "can_receive" };
    case "group":
      return { type: "group", match: "any", negate: false, conditions: [] };
  }
}

export function newEventCondition(metric: string): EventCondition {
  return { type: "event", metric, measure: "count", operator: "at_least", value: 1, window: { type: "all_time", unit: "days" }, filters: [] };
}

export function emptyDefinition(): Definition {
  return { version: 1, match: "all", negate: false, conditions: [] };
}

/** A profile condition pointed at a built-in field or a custom property. */
export function withSubject(
  condition: ProfileCondition,
  subject: { field: string } | { property: string; type?: ValueType },
): ProfileCondition {
  const oldType = predicateType(condition, condition.field);
  const next: ProfileCondition = { ...condition };
  delete next.field;
  delete next.property;
  if ("field" in subject) {
    next.field = subject.field;
    delete next.value_type;
  } else {
    next.property = subject.property;
    next.value_type = subject.type ?? (condition.field ? oldType : (condition.value_type ?? oldType));
  }
  const newType = predicateType(next, next.field);
  if (newType === oldType && operatorsFor(newType).includes(next.operator)) return next;
  const converted = withValueType(next, newType, oldType);
  if (next.field) delete converted.value_type;
  return converted;
}

// --- Picking a field or property --------------------------------------------------------------

/** The built-in fields and the organization's custom properties in one list. */
export function subjectOptions(catalog: Schemas["Catalog"] | undefined) {
  const builtins = catalog?.fields.map((f) => f.name) ?? [];
  const properties = catalog?.properties ?? [];
  const labels = new Set(builtins.map(fieldLabel));
  return {
    builtins,
    properties,
    data: [
      { group: "Profile fields", items: builtins.map((name) => ({ value: `field:${name}`, label: fieldLabel(name) })) },
      {
        group: "Custom properties",
        // A property named like a field's label ("City") is told apart by its suffix.
        items: properties.map((p) => ({
          value: `property:${p.name}`,
          label: labels.has(p.name) ? `${p.name} (custom)` : p.name,
        })),
      },
    ],
  };
}

// --- Events ------------------------------------------------------------------------------------

export type EventMode = "done" | "not_done" | "count" | "sum" | "average";

export const EVENT_MODES: { value: EventMode; label: string }[] = [
  { value: "done", label: "has done" },
  { value: "not_done", label: "has not done" },
  { value: "count", label: "count of times" },
  { value: "sum", label: "sum of value" },
  { value: "average", label: "average value" },
];

export const EVENT_COMPARISONS: { value: EventCondition["operator"]; label: string }[] = [
  { value: "at_least", label: "at least" },
  { value: "at_most", label: "at most" },
  { value: "exactly", label: "exactly" },
  { value: "between", label: "between" },
];

/** How the builder shows an event condition: "has done" is a count of at least 1, "has not
 * done" a count of exactly 0. */
export function eventMode(condition: EventCondition): EventMode {
  if (condition.measure !== "count") return condition.measure;
  if (condition.operator === "at_least" && condition.value === 1) return "done";
  if (condition.operator === "exactly" && condition.value === 0) return "not_done";
  return "count";
}

export function withEventMode(condition: EventCondition, mode: EventMode): EventCondition {
  const next: EventCondition = { ...condition };
  delete next.value_to;
  switch (mode) {
    case "done":
      return { ...next, measure: "count", operator: "at_least", value: 1 };
    case "not_done":
      return { ...next, measure: "count", operator: "exactly", value: 0 };
    case "count":
      // Counted explicitly: keep a count the person chose, start from "at least 2" otherwise.
      if (condition.measure === "count" && eventMode(condition) === "count") return condition;
      return { ...next, measure: "count", operator: "at_least", value: 2 };
    case "sum":
    case "average":
      return {
        ...next,
        measure: mode,
        operator: condition.measure === "count" ? "at_least" : condition.operator,
        value: condition.measure === "count" ? 0 : condition.value,
        value_to: condition.measure === "count" ? undefined : condition.value_to,
      };
  }
}

/** Where conditions are written: a segment, or a flow (filters, splits), where an event may also
 * count from the moment the profile entered the flow. */
export type ConditionScope = "segment" | "flow";

const WINDOW_TYPES: { value: EventWindow["type"]; label: string }[] = [
  { value: "all_time", label: "at any time" },
  { value: "in_the_last", label: "in the last" },
  { value: "since", label: "since" },
  { value: "between", label: "between" },
];
const FLOW_WINDOW_TYPES: { value: EventWindow["type"]; label: string }[] = [
  ...WINDOW_TYPES,
  { value: "since_flow_start", label: "since starting this flow" },
];

/** The windows an event condition may have where it is written (segments refuse the flow's). */
export function windowTypes(scope: ConditionScope): { value: EventWindow["type"]; label: string }[] {
  return scope === "flow" ? FLOW_WINDOW_TYPES : WINDOW_TYPES;
}

export function withWindowType(window: EventWindow | undefined, type: EventWindow["type"]): EventWindow {
  const today = new Date().toISOString().slice(0, 10);
  switch (type) {
    case "all_time":
    case "since_flow_start":
      return { type, unit: "days" };
    case "in_the_last":
      return { type, amount: window?.amount ?? 30, unit: window?.unit ?? "days" };
    case "since":
      return { type, unit: "days", start: window?.start ?? startOfDay(today) };
    case "between":
      return {
        type,
        unit: "days",
        start: window?.start ?? startOfDay(today),
        end: window?.end ?? endOfDay(today),
      };
  }
}

/** A window's bounds are instants: a chosen day starts at 00:00 and ends at 23:59:59 UTC. */
export function startOfDay(day: string): string {
  return `${day}T00:00:00Z`;
}

export function endOfDay(day: string): string {
  return `${day}T23:59:59Z`;
}

/** The day of an ISO date or date-time ("" when there is none). */
export function dayOf(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 10) : "";
}

// --- The tree ----------------------------------------------------------------------------------

export function isGroup(condition: Condition): condition is GroupCondition {
  return condition.type === "group";
}

export function conditionsOf(group: GroupLike): Condition[] {
  return group.conditions ?? [];
}

/** The condition (or group) at `path`; the root for []. */
export function getAt(root: GroupLike, path: Path): GroupLike | Condition | undefined {
  let node: GroupLike | Condition = root;
  for (const index of path) {
    if ("type" in node && node.type !== "group") return undefined;
    const child: Condition | undefined = conditionsOf(node as GroupLike)[index];
    if (child === undefined) return undefined;
    node = child;
  }
  return node;
}

/** Called with each node an update replaced and its replacement (the changed node and its
 * ancestors), so that whoever keeps something per node (the builder's React keys) can carry it. */
export type OnReplace = (before: object, after: object) => void;

/** A copy of the tree with the node at `path` replaced by `change(node)`; ancestors are copied,
 * everything else is shared. */
export function updateAt<T extends GroupLike>(
  root: T,
  path: Path,
  change: (node: GroupLike | Condition) => GroupLike | Condition,
  onReplace?: OnReplace,
): T {
  if (path.length === 0) {
    const replaced = change(root) as T;
    onReplace?.(root, replaced);
    return replaced;
  }
  const [index, ...rest] = path as [number, ...number[]];
  const children = conditionsOf(root);
  const child = children[index];
  if (child === undefined) return root;
  let replaced: Condition;
  if (rest.length === 0) {
    replaced = change(child) as Condition;
    onReplace?.(child, replaced);
  } else if (isGroup(child)) {
    replaced = updateAt(child, rest, change, onReplace);
  } else {
    return root;
  }
  const conditions = children.slice();
  conditions[index] = replaced;
  const copy = { ...root, conditions };
  onReplace?.(root, copy);
  return copy;
}

/** Adds a condition at the end of the group at `groupPath`. */
export function addTo<T extends GroupLike>(
  root: T,
  groupPath: Path,
  condition: Condition,
  onReplace?: OnReplace,
): T {
  return updateAt(
    root,
    groupPath,
    (group) => ({ ...(group as GroupLike), conditions: [...conditionsOf(group as GroupLike), condition] }),
    onReplace,
  );
}

/** Removes the condition or group at `path` (never the root). */
export function removeAt<T extends GroupLike>(root: T, path: Path, onReplace?: OnReplace): T {
  if (path.length === 0) return root;
  const parent = path.slice(0, -1);
  const index = path[path.length - 1]!;
  return updateAt(
    root,
    parent,
    (group) => ({
      ...(group as GroupLike),
      conditions: conditionsOf(group as GroupLike).filter((_, i) => i !== index),
    }),
    onReplace,
  );
}

/** The level of the group at `path`: the root is level 1. */
export function levelOf(groupPath: Path): number {
  return groupPath.length + 1;
}

/** Whether the group at `groupPath` may hold another group (groups nest 5 levels deep). */
export function canNestGroup(groupPath: Path): boolean {
  return levelOf(groupPath) < MAX_DEPTH;
}

/** Conditions that are not groups, as the API counts them (at most 100). */
export function countConditions(group: GroupLike): number {
  return conditionsOf(group).reduce(
    (total, condition) => total + (isGroup(condition) ? countConditions(condition) : 1),
    0,
  );
}

/** "1.2": how the builder numbers a condition, for people and for labels. */
export function pathLabel(path: Path): string {
  return path.map((index) => index + 1).join(".");
}

/** The key of a path, as `errorsByCondition` uses it. */
export function pathKey(path: Path): string {
  return path.join(".");
}

/** What the API sends back as the definition, ready to be edited (extra output fields such as
 * defaults are the same JSON the API takes). */
export function toEditable(definition: unknown): Definition {
  const value = definition as Partial<Definition> | null | undefined;
  return {
    version: 1,
    match: value?.match ?? "all",
    negate: value?.negate ?? false,
    conditions: (value?.conditions as Condition[] | undefined) ?? [],
  };
}

// --- Errors ------------------------------------------------------------------------------------

export interface PlacedErrors {
  /** Reasons by condition: `pathKey(path)` -> reasons ("" is the root). */
  byCondition: Record<string, string[]>;
  /** Errors about something other than the definition (name, description, ...). */
  other: { field: string; reason: string }[];
}

/**
 * Places the API's field errors: "definition.conditions[0].conditions[1].value" belongs to the
 * condition at [0, 1] (as "value: <reason>" when it names a part of it).
 */
export function placeErrors(fields: readonly { field: string; reason: string }[]): PlacedErrors {
  const byCondition: Record<string, string[]> = {};
  const other: { field: string; reason: string }[] = [];
  for (const { field, reason } of fields) {
    if (field !== "definition" && !field.startsWith("definition.")) {
      other.push({ field, reason });
      continue;
    }
    let rest = field.slice("definition".length);
    const path: number[] = [];
    for (;;) {
      const match = /^\.conditions\[(\d+)\]/.exec(rest);
      if (!match) break;
      path.push(Number(match[1]));
      rest = rest.slice(match[0].length);
    }
    const part = rest.replace(/^\./, "");
    const text =
      part && !(path.length === 0 && part === "conditions") ? `${partLabel(part)}: ${plainReason(reason)}` : plainReason(reason);
    (byCondition[pathKey(path)] ??= []).push(text);
  }
  return { byCondition, other };
}

const PART_LABELS: Record<string, string> = {
  property: "Property",
  field: "Field",
  metric: "Event",
  segment_id: "Segment",
  value: "Value",
  value_to: "To",
  values: "Values",
  amount: "Amount",
  window: "When",
  filters: "Property filters",
};

/** "filters[0].property" -> "Property filter 1, property"; "metric" -> "Event". The flow builder
 * names the parts of its event filters the same way. */
export function partLabel(part: string): string {
  const filter = /^filters\[(\d+)\](?:\.(.+))?$/.exec(part);
  if (filter) {
    const inner = filter[2] ? `, ${PART_LABELS[filter[2]]?.toLowerCase() ?? filter[2]}` : "";
    return `Property filter ${Number(filter[1]) + 1}${inner}`;
  }
  return PART_LABELS[part] ?? part;
}

/** Pydantic's wording for an empty text or an unchosen id, as a person would say it. */
export function plainReason(reason: string): string {
  if (/^String should have at least 1 character/.test(reason)) return "missing";
  if (/^Input should be a valid UUID/.test(reason)) return "choose one";
  return reason;
}

// --- Completeness (checked in the browser before anything is sent) -----------------------------

function blank(value: Scalar | null | undefined): boolean {
  return value == null || (typeof value === "string" && value.trim() === "");
}

/** What a predicate still lacks: an operand its operator needs. */
function predicateProblems(predicate: Predicate, type: ValueType): string[] {
  switch (valueInput(type, predicate.operator)) {
    case "none":
      return [];
    case "list":
      return predicate.values?.length ? [] : ["Values: add at least one"];
    case "relative":
    case "days":
      return predicate.amount == null ? ["Amount: missing"] : [];
    case "number-range":
    case "date-range": {
      const problems: string[] = [];
      if (blank(predicate.value)) problems.push("From: missing");
      if (blank(predicate.value_to)) problems.push("To: missing");
      return problems;
    }
    default:
      return blank(predicate.value) ? ["Value: missing"] : [];
  }
}

function leafProblems(condition: Leaf): string[] {
  switch (condition.type) {
    case "profile": {
      const subject = condition.field == null && !condition.property?.trim() ? ["Property: missing"] : [];
      return [...subject, ...predicateProblems(condition, predicateType(condition, condition.field))];
    }
    case "event": {
      const problems = condition.metric.trim() ? [] : ["Event: missing"];
      if (condition.operator === "between" && condition.value_to == null) problems.push("To: missing");
      const window = condition.window;
      if (window?.type === "in_the_last" && window.amount == null) problems.push("When: the amount is missing");
      if ((window?.type === "since" || window?.type === "between") && !window.start) problems.push("When: the start is missing");
      if (window?.type === "between" && !window.end) problems.push("When: the end is missing");
      (condition.filters ?? []).forEach((filter, index) => {
        const name = `Property filter ${index + 1}`;
        if (!filter.property.trim()) problems.push(`${name}: the property is missing`);
        for (const problem of predicateProblems(filter, predicateType(filter))) {
          problems.push(`${name}, ${problem.charAt(0).toLowerCase()}${problem.slice(1)}`);
        }
      });
      return problems;
    }
    case "segment":
      return condition.segment_id ? [] : ["Segment: choose one"];
    case "consent":
      return [];
  }
}

/**
 * What the definition still lacks, by condition (`pathKey`), before it can be estimated or saved:
 * an empty property, event or segment, a missing operand. Empty means complete as far as the
 * browser can tell (the API still checks everything).
 */
export function definitionProblems(root: GroupLike): Record<string, string[]> {
  const problems: Record<string, string[]> = {};
  const walk = (group: GroupLike, path: Path) => {
    conditionsOf(group).forEach((condition, index) => {
      const here = [...path, index];
      if (isGroup(condition)) {
        walk(condition, here);
        return;
      }
      const found = leafProblems(condition);
      if (found.length) problems[pathKey(here)] = found;
    });
  };
  walk(root, []);
  return problems;
}
