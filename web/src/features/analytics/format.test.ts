import { describe, expect, it } from "vitest";
import { formatChange, formatMeasure, formatMoney, formatRate, lastDays } from "./format";

describe("analytics formatting", () => {
  it("shows money in the organization's currency", () => {
    expect(formatMoney(12.5, "EUR")).toContain("12.50");
    expect(formatMoney(12.5, "EUR")).toMatch(/€/);
    expect(formatMeasure("revenue", 3, "USD")).toMatch(/\$/);
  });
  it("shows rates and changes as percentages", () => {
    expect(formatRate(0.25)).toBe("25.0%");
    expect(formatRate(0.0012)).toBe("0.12%");
    expect(formatChange(0.125)).toBe("+12.5%");
    expect(formatChange(-0.03)).toBe("−3.0%");
    expect(formatChange(null)).toBe("—");
  });
  it("counts a range's days inclusively", () => {
    expect(lastDays(7, new Date(2026, 11, 7))).toEqual({ from: "2026-12-01", to: "2026-12-07" });
  });
});
