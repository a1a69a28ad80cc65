/**
 * The profile list's filters as they live in the address (`?q=&segment=&field=city&op=equals&value=Berlin`)
 * and as the API takes them (GET /api/profiles, /api/profiles/count and /api/profiles/export).
 */

export type ListOperator =
  | "equals"
  | "not_equals"
  | "contains"
  | "starts_with"
  | "greater_than"
  | "less_than"
  | "is_set"
  | "is_not_set";

export const LIST_OPERATORS: { value: ListOperator; label: string }[] = [
  { value: "equals", label: "is" },
  { value: "not_equals", label: "is not" },
  { value: "contains", label: "contains" },
  { value: "starts_with", label: "starts with" },
  { value: "greater_than", label: "is greater than" },
  { value: "less_than", label: "is less than" },
  { value: "is_set", label: "is set" },
  { value: "is_not_set", label: "is not set" },
];

export interface ProfileListFilter {
  q: string;
  /** A segment's id: only its current members. */
  segment: string;
  /** "field:city" or "property:plan"; "" for no property filter. */
  subject: string;
  op: ListOperator;
  value: string;
}

export const NO_FILTER: ProfileListFilter = { q: "", segment: "", subject: "", op: "equals", value: "" };

export function needsValue(op: ListOperator): boolean {
  return op !== "is_set" && op !== "is_not_set";
}

export function readFilter(params: URLSearchParams): ProfileListFilter {
  const field = params.get("field");
  const property = params.get("property");
  const op = params.get("op");
  return {
    q: params.get("q") ?? "",
    segment: params.get("segment") ?? "",
    subject: field ? `field:${field}` : property ? `property:${property}` : "",
    op: LIST_OPERATORS.some((o) => o.value === op) ? (op as ListOperator) : "equals",
    value: params.get("value") ?? "",
  };
}

/** Whether the property filter is ready to be sent (a subject, and a value unless none is needed). */
export function propertyFilterComplete(filter: ProfileListFilter): boolean {
  return filter.subject !== "" && (!needsValue(filter.op) || filter.value.trim() !== "");
}

/** The API's query parameters; an incomplete property filter is left out. */
export function apiQuery(filter: ProfileListFilter, numberProperty = false): Record<string, string> {
  const query: Record<string, string> = {};
  if (filter.q.trim()) query.q = filter.q.trim();
  if (filter.segment) query.segment_id = filter.segment;
  if (propertyFilterComplete(filter)) {
    const [kind, ...rest] = filter.subject.split(":");
    query[kind === "field" ? "field" : "property"] = rest.join(":");
    query.op = filter.op;
    if (needsValue(filter.op)) query.value = filter.value.trim();
    if (kind === "property" && numberProperty) query.value_type = "number";
  }
  return query;
}

/** The address's parameters for the filters (empty ones left out). */
export function addressParams(filter: ProfileListFilter): Record<string, string> {
  const params: Record<string, string> = {};
  if (filter.q.trim()) params.q = filter.q.trim();
  if (filter.segment) params.segment = filter.segment;
  if (filter.subject) {
    const [kind, ...rest] = filter.subject.split(":");
    params[kind === "field" ? "field" : "property"] = rest.join(":");
    params.op = filter.op;
    if (filter.value) params.value = filter.value;
  }
  return params;
}

/** "1,234 profiles", "1 profile", "More than 10,000 profiles". */
export function countText(count: { count: number; exact: boolean }, format: (n: number) => string): string {
  if (!count.exact) return `More than ${format(count.count)} profiles`;
  return `${format(count.count)} ${count.count === 1 ? "profile" : "profiles"}`;
}
