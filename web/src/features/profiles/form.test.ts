import { describe, expect, it } from "vitest";
import type { Profile } from "../../api/client";
import {
  buildCreateBody,
  buildUpdateBody,
  newProfileValues,
  parseProperties,
  parsePropertyValue,
  profileExportFileName,
  profilesExportHref,
  toEditValues,
} from "./form";

const PROFILE: Profile = {
  id: "0190a1b2-0000-7000-8000-000000000001",
  email: "ada@example.com",
  phone: "+14155550100",
  external_id: "c-1",
  first_name: "Ada",
  last_name: "Lovelace",
  timezone: "Europe/London",
  location: { city: "London", country: "GB", latitude: 51.5, longitude: null },
  properties: { plan: "pro", orders: 3, address: { street: "1 Main St" }, vip: true },
  anonymous: false,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

describe("buildUpdateBody", () => {
  it("sends nothing when nothing changed", () => {
    expect(buildUpdateBody(PROFILE, toEditValues(PROFILE))).toEqual({ body: {}, errors: null });
  });

  it("sends the changed fields, trimmed, and null for a cleared one", () => {
    const values = { ...toEditValues(PROFILE), first_name: " Augusta ", phone: "  ", timezone: "Europe/Paris" };
    expect(buildUpdateBody(PROFILE, values)).toEqual({
      body: { first_name: "Augusta", phone: null, timezone: "Europe/Paris" },
      errors: null,
    });
  });

  it("sends only the location fields that changed, coordinates as numbers", () => {
    const values = { ...toEditValues(PROFILE), city: "", zip: "NW1", latitude: "51.5", longitude: "-0.12" };
    expect(buildUpdateBody(PROFILE, values).body).toEqual({ location: { city: null, zip: "NW1", longitude: -0.12 } });
  });

  it("refuses a coordinate out of range or not a number", () => {
    const values = { ...toEditValues(PROFILE), latitude: "91", longitude: "east" };
    const built = buildUpdateBody(PROFILE, values);
    expect(built.body).toBeNull();
    expect(Object.keys(built.errors ?? {})).toEqual(["latitude", "longitude"]);
    expect(built.errors?.latitude).toMatch(/from -90 to 90/);
  });

  it("sends changed property values, added properties and removed ones as unset", () => {
    const values = toEditValues(PROFILE);
    expect(values.stored.map((p) => [p.name, p.value])).toEqual([
      ["address", '{\n  "street": "1 Main St"\n}'],
      ["orders", "3"],
      ["plan", '"pro"'],
      ["vip", "true"],
    ]);
    values.stored[1] = { ...values.stored[1]!, value: "4" };
    values.stored[3] = { ...values.stored[3]!, removed: true };
    values.added = [
      { name: " trial_ends ", value: '"2026-02-01"' },
      { name: "", value: "" }, // an empty row is left out
    ];
    expect(buildUpdateBody(PROFILE, values)).toEqual({
      body: { properties: { orders: 4, trial_ends: "2026-02-01" }, unset: ["vip"] },
      errors: null,
    });
  });

  it("replaces a property removed and added again under its name, rather than removing it", () => {
    const values = toEditValues(PROFILE);
    values.stored[2] = { ...values.stored[2]!, removed: true };
    values.added = [{ name: "plan", value: '{"tier": "team"}' }];
    expect(buildUpdateBody(PROFILE, values).body).toEqual({ properties: { plan: { tier: "team" } } });
  });

  it("says which property is wrong and why", () => {
    const values = toEditValues(PROFILE);
    values.stored[2] = { ...values.stored[2]!, value: "team" };
    values.added = [
      { name: "", value: "1" },
      { name: "orders", value: "1" },
      { name: "color", value: "" },
      { name: "size", value: "1" },
      { name: "size", value: "2" },
    ];
    const built = buildUpdateBody(PROFILE, values);
    expect(built.body).toBeNull();
    expect(built.errors).toEqual({
      "stored.2.value": expect.stringMatching(/^Not valid JSON .*double quotes/),
      "added.0.name": "Name the property",
      "added.1.name": "There is a property named orders already: change its value above",
      "added.2.value": expect.stringMatching(/^Write a JSON value/),
      "added.4.name": "size is added twice",
    });
  });
});

describe("buildCreateBody", () => {
  it("sends the fields that were filled in", () => {
    const values = {
      ...newProfileValues(),
      email: " ada@example.com ",
      first_name: "Ada",
      city: "London",
      latitude: "51.5",
      properties: '{"plan": "pro"}',
    };
    expect(buildCreateBody(values)).toEqual({
      body: { email: "ada@example.com", first_name: "Ada", location: { city: "London", latitude: 51.5 }, properties: { plan: "pro" } },
      errors: null,
    });
  });

  it("needs an email, a phone or an external id", () => {
    const built = buildCreateBody({ ...newProfileValues(), first_name: "Ada" });
    expect(built.errors).toEqual({ email: "Give at least one of email, phone and external id" });
    expect(buildCreateBody({ ...newProfileValues(), external_id: "c-9" }).body).toEqual({ external_id: "c-9" });
  });

  it("says what is wrong with the properties", () => {
    const values = { ...newProfileValues(), phone: "+14155550100" };
    expect(buildCreateBody({ ...values, properties: '["pro"]' }).errors?.properties).toMatch(/^Write a JSON object/);
    expect(buildCreateBody({ ...values, properties: "{plan: pro}" }).errors?.properties).toMatch(/^Not valid JSON/);
  });
});

describe("parsing JSON", () => {
  it("reads properties as an object, blank as none", () => {
    expect(parseProperties("  ")).toEqual({ value: {} });
    expect(parseProperties('{"a": [1, 2]}')).toEqual({ value: { a: [1, 2] } });
    expect(parseProperties("null")).toHaveProperty("error");
  });

  it("reads any JSON value, and refuses bare text", () => {
    expect(parsePropertyValue("null")).toEqual({ value: null });
    expect(parsePropertyValue('"gold"')).toEqual({ value: "gold" });
    expect(parsePropertyValue("gold")).toHaveProperty("error");
  });
});

describe("downloads", () => {
  it("exports the profiles the search shows", () => {
    expect(profilesExportHref({})).toBe("/api/profiles/export");
    expect(profilesExportHref({ q: "ada lovelace&co" })).toBe("/api/profiles/export?q=ada+lovelace%26co");
  });

  it("names a person's data file by their id", () => {
    expect(profileExportFileName(PROFILE.id)).toBe(`profile-${PROFILE.id}.json`);
  });
});
