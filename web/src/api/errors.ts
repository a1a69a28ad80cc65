/** Herald answers every error with {"error": {"code", "message", "fields": [{"field", "reason"}]}}. */

export interface FieldProblem {
  field: string;
  reason: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldProblem[];

  constructor(status: number, code: string, message: string, fields: FieldProblem[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

const STATUS_MESSAGES: Record<number, string> = {
  401: "You are not signed in.",
  403: "You are not allowed to do this.",
  404: "Not found.",
  409: "This conflicts with something that already exists.",
  413: "That is too large.",
  429: "Too many attempts. Wait a minute and try again.",
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An ApiError from a response status and its (parsed) body, whatever shape the body has. */
export function toApiError(status: number, body: unknown): ApiError {
  const error = isRecord(body) && isRecord(body.error) ? body.error : null;
  const fallback = STATUS_MESSAGES[status] ?? `Herald answered with an error (HTTP ${status}).`;
  if (error === null) {
    return new ApiError(status, `http_${status}`, fallback);
  }
  const fields: FieldProblem[] = Array.isArray(error.fields)
    ? error.fields.filter(isRecord).map((f) => ({
        field: String(f.field ?? ""),
        reason: String(f.reason ?? ""),
      }))
    : [];
  const code = typeof error.code === "string" ? error.code : `http_${status}`;
  const message = typeof error.message === "string" && error.message ? error.message : fallback;
  return new ApiError(status, code, message, fields);
}

export const NETWORK_ERROR_MESSAGE =
  "Herald could not be reached. Check that it is running and try again.";

export function networkError(): ApiError {
  return new ApiError(0, "network", NETWORK_ERROR_MESSAGE);
}

/** What to tell a person about any error a query or mutation threw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return sentence(error.message);
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}

function sentence(text: string): string {
  // Pydantic prefixes the reasons of custom validators with the kind of exception.
  const trimmed = text.trim().replace(/^(Value error|Assertion failed), /, "");
  if (!trimmed) return trimmed;
  const capitalized = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}

export interface MappedFieldErrors {
  /** Reasons for the fields the form shows, by form field name. */
  byField: Record<string, string>;
  /** What no field of the form can show (other fields, or a message without fields). */
  other: string[];
}

/**
 * Splits an API error into messages for the form's inputs and the rest.
 *
 * `fields` lists the form's field names; `aliases` maps API field names to them where they differ
 * (for example the API's `location.city` shown by an input named `city`). A nested API field
 * (`location.city`) also lands on a form field named for its first part (`location`).
 */
export function mapFieldErrors(
  error: unknown,
  fields: readonly string[],
  aliases: Readonly<Record<string, string>> = {},
): MappedFieldErrors {
  const byField: Record<string, string> = {};
  const other: string[] = [];
  if (!(error instanceof ApiError)) {
    other.push(errorMessage(error));
    return { byField, other };
  }
  for (const problem of error.fields) {
    const target = formFieldFor(problem.field, fields, aliases);
    if (target === null) {
      const reason = sentence(problem.reason);
      other.push(problem.field && problem.field !== "body" ? `${problem.field}: ${reason}` : reason);
    } else if (byField[target] === undefined) {
      byField[target] = sentence(problem.reason);
    }
  }
  if (error.fields.length === 0) {
    other.push(sentence(error.message));
  }
  return { byField, other };
}

function formFieldFor(
  apiField: string,
  fields: readonly string[],
  aliases: Readonly<Record<string, string>>,
): string | null {
  const aliased = aliases[apiField];
  if (aliased !== undefined) return aliased;
  if (fields.includes(apiField)) return apiField;
  const head = apiField.split(/[.[]/, 1)[0] ?? "";
  return fields.includes(head) ? head : null;
}
