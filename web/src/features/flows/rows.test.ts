import { describe, expect, it } from "vitest";
import { changeRows, headerRows, parseLiteral, toHeaders, toProfileChanges } from "./rows";

describe("profile changes as rows", () => {
  it("round-trips set, unset and increment", () => {
    const update = { set: { vip: true, tier: "gold", points: 10, note: null }, unset: ["old"], increment: { orders: 1.5 } };
    const rows = changeRows(update);
    expect(rows).toEqual([
      { kind: "set", property: "vip", value: "true" },
      { kind: "set", property: "tier", value: "gold" },
      { kind: "set", property: "points", value: "10" },
      { kind: "set", property: "note", value: "null" },
      { kind: "unset", property: "old", value: "" },
      { kind: "increment", property: "orders", value: "1.5" },
    ]);
    expect(toProfileChanges(rows)).toEqual(update);
  });

  it("types what is typed, and leaves a bad increment for the API to name", () => {
    expect(parseLiteral("false")).toBe(false);
    expect(parseLiteral("-3")).toBe(-3);
    expect(parseLiteral("3 apples")).toBe("3 apples");
    expect(toProfileChanges([{ kind: "increment", property: "n", value: "many" }]).increment).toEqual({ n: "many" });
  });
});

describe("webhook headers as rows", () => {
  it("round-trips", () => {
    const headers = { "X-Shop": "one", Authorization: "Bearer t" };
    expect(toHeaders(headerRows(headers))).toEqual(headers);
    expect(headerRows(undefined)).toEqual([]);
  });
});
