import { describe, expect, it } from "vitest";
import { safeNextPath } from "./next";

describe("where sign-in leads", () => {
  it("goes back to a page of this site", () => {
    expect(safeNextPath("/events?name=Placed%20Order")).toBe("/events?name=Placed%20Order");
  });

  it("never leaves the site, and never loops", () => {
    for (const next of [null, "", "https://evil.example", "//evil.example", "/\\evil.example", "/sign-in"]) {
      expect(safeNextPath(next)).toBe("/profiles");
    }
  });
});
