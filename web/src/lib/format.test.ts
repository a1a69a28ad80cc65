import { describe, expect, it } from "vitest";
import { formatDateTime, formatRelative, formatValue, profileLabel } from "./format";
import { summarizeProperties } from "./summary";

describe("formatting", () => {
  it("names a profile by name, else its first identifier", () => {
    expect(profileLabel({ first_name: "Ada", last_name: "Lovelace", email: "a@x" })).toBe("Ada Lovelace");
    expect(profileLabel({ first_name: null, email: "a@x", phone: "+1" })).toBe("a@x");
    expect(profileLabel({ phone: "+14155550100" })).toBe("+14155550100");
    expect(profileLabel({ external_id: "c-1" })).toBe("c-1");
    expect(profileLabel({})).toBe("Anonymous visitor");
  });

  it("shows values as text", () => {
    expect(formatValue("<b>x</b>")).toBe("<b>x</b>");
    expect(formatValue(3)).toBe("3");
    expect(formatValue(null)).toBe("null");
    expect(formatValue({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
  });

  it("summarizes properties on a line", () => {
    expect(summarizeProperties({ product: "Tea", items: [{ sku: "T" }] })).toBe('product: Tea · items: [{"sku":"T"}]');
    expect(summarizeProperties({})).toBe("");
    expect(summarizeProperties({ long: "x".repeat(500) }, 20)).toHaveLength(20);
  });

  it("says how long ago", () => {
    const now = new Date("2026-11-24T12:00:00Z");
    expect(formatRelative("2026-11-24T11:59:50Z", now)).toBe("just now");
    expect(formatRelative("2026-11-24T11:55:00Z", now)).toBe("5 minutes ago");
    expect(formatRelative("2026-11-21T12:00:00Z", now)).toBe("3 days ago");
    expect(formatDateTime(null)).toBe("—");
    expect(formatDateTime("not a date")).toBe("not a date");
  });
});
