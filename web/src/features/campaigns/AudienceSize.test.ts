import { describe, expect, it } from "vitest";
import { skippedSummary } from "./AudienceSize";

describe("skippedSummary", () => {
  it("names each reason with its count, in a fixed order, leaving out zeros", () => {
    expect(skippedSummary({ smart_sending: 2, no_email: 1, suppressed: 0 })).toBe(
      "1 without an email address, 2 emailed recently (smart sending)",
    );
    expect(skippedSummary({})).toBe("");
  });
});
