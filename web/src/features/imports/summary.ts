/** How the imports list describes an import: its status and what it did, in words. */
import type { Import, ImportStatus } from "../../api/client";
import { formatCount } from "../../lib/format";

type Counts = NonNullable<Import["counts"]>;

export const STATUS_LABELS: Readonly<Record<ImportStatus, string>> = {
  pending: "Waiting",
  running: "Importing",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Stopped",
};

export const STATUS_COLORS: Readonly<Record<ImportStatus, string>> = {
  pending: "gray",
  running: "blue",
  succeeded: "teal",
  failed: "red",
  cancelled: "orange",
};

export const TYPE_LABELS: Readonly<Record<Import["type"], string>> = {
  profiles: "Profiles from CSV",
  events: "Events from JSON Lines",
};

/** Whether a worker may still change the import (the list follows it while one is). */
export function isActive(item: Pick<Import, "status">): boolean {
  return item.status === "pending" || item.status === "running";
}

function count(value: number, one: string, many: string = one): string {
  return `${formatCount(value)} ${value === 1 ? one : many}`;
}

/** "2 created", "1 updated", …: each count of a profile import, or of an event import. */
export function countParts(type: Import["type"], counts: Counts): string[] {
  const of = (key: string) => ((counts as Record<string, number | undefined>)[key] ?? 0);
  const parts =
    type === "profiles"
      ? [count(of("created"), "created"), count(of("updated"), "updated"), count(of("unchanged"), "unchanged")]
      : [count(of("stored"), "stored"), count(of("duplicates"), "duplicate", "duplicates")];
  return [...parts, count(of("errors"), "error", "errors")];
}

/** Rows with problems, so far: the errors CSV has them. */
export function errorCount(item: Pick<Import, "counts">): number {
  return item.counts?.errors ?? 0;
}

/** "1,500 of 20,000 rows", or "1,500 rows" while the total is not known yet. */
export function progressText(item: Pick<Import, "type" | "progress_done" | "progress_total">): string {
  const unit = item.type === "profiles" ? ["row", "rows"] : ["line", "lines"];
  const total = item.progress_total;
  if (total === null) return count(item.progress_done, unit[0] ?? "", unit[1]);
  return `${formatCount(item.progress_done)} of ${count(total, unit[0] ?? "", unit[1])}`;
}

/** The share done, 0 to 100 (0 while the total is not known). */
export function progressPercent(item: Pick<Import, "progress_done" | "progress_total">): number {
  const total = item.progress_total;
  return total ? Math.min(100, Math.round((item.progress_done / total) * 100)) : 0;
}
