/**
 * Herald reports template problems per field, each reason with its position first:
 * `line 3, column 5: 'profle' is not defined`. This reads them back for the editor, which shows
 * each field's problems under it and can put the cursor where a problem is.
 */
import type { FieldProblem } from "../../api/errors";

export interface Problem {
  /** 1-based, when Herald knew it. */
  line: number | null;
  /** 1-based, counted in characters (code points), when Herald knew it. */
  column: number | null;
  message: string;
}

const POSITION = /^line (\d+)(?:, column (\d+))?:\s*/i;

export function parseProblem(reason: string): Problem {
  const match = POSITION.exec(reason.trim());
  if (!match) return { line: null, column: null, message: reason.trim() };
  return {
    line: Number(match[1]),
    column: match[2] === undefined ? null : Number(match[2]),
    message: reason.trim().slice(match[0].length),
  };
}

/** "Line 3, column 5: 'profle' is not defined" (or just the message without a position). */
export function describeProblem(problem: Problem): string {
  if (problem.line === null) return problem.message;
  const where = problem.column === null ? `Line ${problem.line}` : `Line ${problem.line}, column ${problem.column}`;
  return `${where}: ${problem.message}`;
}

/** Problems by the field they are about, in the order Herald gave them; a problem without a
 * field (or about the request as a whole) is under "". */
export function groupProblems(fields: readonly FieldProblem[]): Record<string, Problem[]> {
  const grouped: Record<string, Problem[]> = {};
  for (const { field, reason } of fields) {
    const key = field.split(/[.[]/, 1)[0] ?? "";
    (grouped[key] ??= []).push(parseProblem(reason));
  }
  return grouped;
}

/**
 * The UTF-16 offset (what a textarea's setSelectionRange takes) of a 1-based line and column,
 * where the column counts characters as Python does. Past the end of a line it stops at the
 * line's end; past the last line, at the end of the text.
 */
export function offsetAt(text: string, line: number, column: number | null): number {
  let start = 0;
  for (let current = 1; current < line; current += 1) {
    const next = text.indexOf("\n", start);
    if (next === -1) return text.length;
    start = next + 1;
  }
  const end = text.indexOf("\n", start) === -1 ? text.length : text.indexOf("\n", start);
  let offset = start;
  for (let counted = 1; counted < (column ?? 1) && offset < end; counted += 1) {
    const code = text.charCodeAt(offset);
    offset += code >= 0xd800 && code <= 0xdbff && offset + 1 < end ? 2 : 1;
  }
  return offset;
}

/** The 1-based line and column (in characters) of a UTF-16 offset: where the cursor is. */
export function positionAt(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lineStart = before.lastIndexOf("\n") + 1;
  const line = before.length - before.replace(/\n/g, "").length + 1;
  return { line, column: Array.from(before.slice(lineStart)).length + 1 };
}
