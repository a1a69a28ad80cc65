/** The update-profile step's changes and the webhook step's headers as rows a person edits,
 * and back as the API's JSON. */
import { parseNumber } from "../segments/definition";
import type { StepOf } from "./types";

export type ProfileChanges = StepOf<"update_profile">["update"];
export type ChangeKind = "set" | "unset" | "increment";

export interface ChangeRow {
  kind: ChangeKind;
  property: string;
  /** As typed: for `set`, "true", "42" and "null" are stored as a boolean, a number and null. */
  value: string;
}

function literal(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function changeRows(update: ProfileChanges): ChangeRow[] {
  return [
    ...Object.entries(update.set ?? {}).map(([property, value]) => ({ kind: "set" as const, property, value: literal(value) })),
    ...(update.unset ?? []).map((property) => ({ kind: "unset" as const, property, value: "" })),
    ...Object.entries(update.increment ?? {}).map(([property, by]) => ({ kind: "increment" as const, property, value: String(by) })),
  ];
}

/** A typed value: true/false, a number, null, else the text itself. */
export function parseLiteral(text: string): string | number | boolean | null {
  if (text === "true") return true;
  if (text === "false") return false;
  if (text === "null") return null;
  return parseNumber(text) ?? text;
}

export function toProfileChanges(rows: readonly ChangeRow[]): ProfileChanges {
  const update: Required<ProfileChanges> = { set: {}, unset: [], increment: {} };
  for (const row of rows) {
    if (row.kind === "set") update.set[row.property] = parseLiteral(row.value);
    else if (row.kind === "unset") update.unset.push(row.property);
    // Not a number: sent as typed, so that the API says what is wrong with it.
    else update.increment[row.property] = (parseNumber(row.value) ?? row.value) as number;
  }
  return update;
}

export interface HeaderRow {
  name: string;
  value: string;
}

export function headerRows(headers: Record<string, string> | undefined): HeaderRow[] {
  return Object.entries(headers ?? {}).map(([name, value]) => ({ name, value }));
}

export function toHeaders(rows: readonly HeaderRow[]): Record<string, string> {
  return Object.fromEntries(rows.map((row) => [row.name, row.value]));
}
