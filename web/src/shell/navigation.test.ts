import { describe, expect, it } from "vitest";
import { AREAS, isInArea, visibleAreas } from "./navigation";

function area(label: string) {
  const found = AREAS.find((a) => a.label === label);
  if (!found) throw new Error(label);
  return found;
}

describe("isInArea", () => {
  it("covers an area's path and what is below it, not look-alikes", () => {
    expect(isInArea(area("Templates"), "/templates")).toBe(true);
    expect(isInArea(area("Templates"), "/templates/new")).toBe(true);
    expect(isInArea(area("Templates"), "/templatesx")).toBe(false);
  });

  it("shows the outbox as current on a message's page", () => {
    expect(isInArea(area("Outbox"), "/messages/123")).toBe(true);
    expect(isInArea(area("Outbox"), "/outbox/123")).toBe(true);
    expect(isInArea(area("Profiles"), "/messages/123")).toBe(false);
  });

  it("lists campaigns, templates, the outbox, suppressions and imports as built", () => {
    for (const label of ["Campaigns", "Templates", "Outbox", "Suppressions", "Imports"]) expect(area(label).planned).toBeUndefined();
  });

  it("puts imports in the audience group, after profiles", () => {
    const audience = AREAS.filter((a) => a.group === "Audience").map((a) => a.label);
    expect(audience.indexOf("Imports")).toBe(audience.indexOf("Profiles") + 1);
  });
});

describe("visibleAreas", () => {
  it("drops Send your first event once events arrive", () => {
    const labels = (hasEvents: boolean | undefined) => visibleAreas(hasEvents).map((a) => a.label);
    expect(labels(false)).toContain("Send your first event");
    expect(labels(undefined)).toContain("Send your first event");
    expect(labels(true)).not.toContain("Send your first event");
    expect(labels(true)).toContain("Analytics");
  });

  it("marks the overview current only on the home page", () => {
    expect(isInArea(area("Overview"), "/")).toBe(true);
    expect(isInArea(area("Overview"), "/profiles")).toBe(false);
    expect(area("Analytics").planned).toBeUndefined();
  });
});
