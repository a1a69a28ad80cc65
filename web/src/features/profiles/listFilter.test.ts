import { describe, expect, it } from "vitest";
import { addressParams, apiQuery, countText, NO_FILTER, readFilter } from "./listFilter";

describe("the profile list's filters", () => {
  it("read from the address and go back to it", () => {
    const filter = readFilter(new URLSearchParams("q=Berlin&segment=s1&field=city&op=starts_with&value=Be"));
    expect(filter).toEqual({ q: "Berlin", segment: "s1", subject: "field:city", op: "starts_with", value: "Be" });
    expect(addressParams(filter)).toEqual({ q: "Berlin", segment: "s1", field: "city", op: "starts_with", value: "Be" });
    expect(readFilter(new URLSearchParams("property=plan&op=bogus")).op).toBe("equals");
    expect(addressParams(NO_FILTER)).toEqual({});
  });

  it("send a property filter only once it is complete", () => {
    const plan = { ...NO_FILTER, subject: "property:plan", op: "equals" as const };
    expect(apiQuery(plan)).toEqual({});
    expect(apiQuery({ ...plan, value: " pro " })).toEqual({ property: "plan", op: "equals", value: "pro" });
    expect(apiQuery({ ...plan, op: "is_set" })).toEqual({ property: "plan", op: "is_set" });
    expect(apiQuery({ ...plan, op: "greater_than", value: "5" }, true)).toEqual({
      property: "plan",
      op: "greater_than",
      value: "5",
      value_type: "number",
    });
    expect(apiQuery({ ...NO_FILTER, q: " ada ", segment: "s1" })).toEqual({ q: "ada", segment_id: "s1" });
  });

  it("counts exactly up to the bound, then says more than", () => {
    const format = (n: number) => n.toLocaleString("en-US");
    expect(countText({ count: 1, exact: true }, format)).toBe("1 profile");
    expect(countText({ count: 1234, exact: true }, format)).toBe("1,234 profiles");
    expect(countText({ count: 10000, exact: false }, format)).toBe("More than 10,000 profiles");
  });
});
