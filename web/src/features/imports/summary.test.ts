import { describe, expect, it } from "vitest";
import { formatCount } from "../../lib/format";
import { countParts, errorCount, isActive, progressPercent, progressText } from "./summary";

describe("countParts", () => {
  it("lists what a profile import did", () => {
    expect(countParts("profiles", { rows: 4, created: 2, updated: 1, unchanged: 0, errors: 1 })).toEqual([
      "2 created",
      "1 updated",
      "0 unchanged",
      "1 error",
    ]);
  });

  it("lists what an event import did", () => {
    expect(countParts("events", { rows: 1204, stored: 1200, duplicates: 1, errors: 3 })).toEqual([
      `${formatCount(1200)} stored`,
      "1 duplicate",
      "3 errors",
    ]);
  });
});

describe("progress", () => {
  it("counts rows of profiles and lines of events, with the total once known", () => {
    expect(progressText({ type: "profiles", progress_done: 1500, progress_total: 20000 })).toBe(`${formatCount(1500)} of ${formatCount(20000)} rows`);
    expect(progressText({ type: "events", progress_done: 1, progress_total: null })).toBe("1 line");
    expect(progressPercent({ progress_done: 1500, progress_total: 20000 })).toBe(8);
    expect(progressPercent({ progress_done: 0, progress_total: null })).toBe(0);
    expect(progressPercent({ progress_done: 0, progress_total: 0 })).toBe(0);
  });

  it("follows pending and running imports only", () => {
    expect(["pending", "running", "succeeded", "failed", "cancelled"].filter((status) => isActive({ status: status as never }))).toEqual([
      "pending",
      "running",
    ]);
  });

  it("counts errors so far, none before the first batch", () => {
    expect(errorCount({ counts: null })).toBe(0);
    expect(errorCount({ counts: { rows: 3, stored: 1, duplicates: 0, errors: 2 } })).toBe(2);
  });
});
