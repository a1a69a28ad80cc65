import { describe, expect, it } from "vitest";
import { LIMIT_FIELDS, formValues, limitsSignature, updateBody, type RateLimits } from "./rateLimitsForm";

function window(limit: number, custom: boolean, used?: number) {
  return { limit, default: 100, ceiling: 1000, custom, used };
}

function limits(keyPerSecond: number, used: number): RateLimits {
  const pair = (custom: boolean) => ({ per_second: window(keyPerSecond, custom, used), per_minute: window(100, false) });
  return {
    ingestion: { organization: pair(false), key: pair(true) },
    management: { organization: pair(false), key: pair(false) },
    public: { per_second: 500, per_minute: 15000 },
    keys: [],
  };
}

describe("rate limit form", () => {
  it("starts empty where the default applies and with the organization's own values", () => {
    const values = formValues(limits(7, 0));
    expect(values.ingestion.key.per_second).toBe(7);
    expect(values.ingestion.organization.per_second).toBe("");
    expect(values.management.key.per_minute).toBe("");
  });

  it("names every limit in the body, null for the default", () => {
    const values = formValues(limits(7, 0));
    values.management.organization.per_minute = 50;
    const body = updateBody(values);
    expect(body.ingestion?.key?.per_second).toBe(7);
    expect(body.management?.organization?.per_minute).toBe(50);
    expect(body.ingestion?.organization?.per_second).toBeNull();
  });

  it("names fields as the API's errors do", () => {
    expect(LIMIT_FIELDS).toContain("management.key.per_minute");
    expect(LIMIT_FIELDS).toHaveLength(8);
  });

  it("keeps its signature while only usage changes", () => {
    expect(limitsSignature(limits(7, 1))).toBe(limitsSignature(limits(7, 99)));
    expect(limitsSignature(limits(7, 1))).not.toBe(limitsSignature(limits(8, 1)));
  });
});
