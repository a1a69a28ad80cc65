import { describe, expect, it } from "vitest";
import { retentionBody, retentionSummary, retentionValues } from "./retentionForm";

const stored = { events_months: 13, message_bodies_days: null, events_pruned_before: null, last_run_at: null };

describe("retention form", () => {
  it("shows kept-for-ever as an empty input and sends it back as null", () => {
    const values = retentionValues(stored);
    expect(values).toEqual({ events_months: 13, message_bodies_days: "" });
    expect(retentionBody(values)).toEqual({ events_months: 13, message_bodies_days: null });
    expect(retentionBody({ events_months: "", message_bodies_days: 30 })).toEqual({
      events_months: null,
      message_bodies_days: 30,
    });
  });

  it("says what is kept", () => {
    expect(retentionSummary(retentionValues(stored))).toBe(
      "Events older than 13 months are deleted; message bodies are kept for ever.",
    );
  });
});
