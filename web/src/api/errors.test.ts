import { describe, expect, it } from "vitest";
import { ApiError, errorMessage, mapFieldErrors, toApiError } from "./errors";

describe("toApiError", () => {
  it("reads Herald's error shape", () => {
    const error = toApiError(422, {
      error: { code: "invalid", message: "email: bad", fields: [{ field: "email", reason: "bad" }] },
    });
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code, error.message]).toEqual([422, "invalid", "email: bad"]);
    expect(error.fields).toEqual([{ field: "email", reason: "bad" }]);
  });

  it("copes with bodies that are not Herald's shape", () => {
    const error = toApiError(502, "<html>Bad gateway</html>");
    expect(error.code).toBe("http_502");
    expect(error.message).toBe("Herald answered with an error (HTTP 502).");
    expect(toApiError(429, undefined).message).toMatch(/Too many attempts/);
    expect(toApiError(400, { error: { fields: "nope" } }).fields).toEqual([]);
  });
});

describe("mapFieldErrors", () => {
  const invalid = (fields: { field: string; reason: string }[], message = "invalid request") =>
    new ApiError(422, "invalid", message, fields);

  it("puts each reason under the input it is about, as a sentence", () => {
    const mapped = mapFieldErrors(
      invalid([
        { field: "timezone", reason: "Value error, not an IANA time zone name" },
        { field: "name", reason: "String should have at least 1 character" },
      ]),
      ["name", "timezone", "default_region"],
    );
    expect(mapped.byField).toEqual({
      timezone: "Not an IANA time zone name.",
      name: "String should have at least 1 character.",
    });
    expect(mapped.other).toEqual([]);
  });

  it("maps nested fields to their first part, or through aliases", () => {
    const error = invalid([
      { field: "location.city", reason: "too long" },
      { field: "properties.plan", reason: "too deep" },
    ]);
    expect(mapFieldErrors(error, ["location", "properties"]).byField).toEqual({
      location: "Too long.",
      properties: "Too deep.",
    });
    expect(mapFieldErrors(error, ["city"], { "location.city": "city" }).byField).toEqual({ city: "Too long." });
  });

  it("keeps the first reason of a field", () => {
    const mapped = mapFieldErrors(
      invalid([
        { field: "email", reason: "first" },
        { field: "email", reason: "second" },
      ]),
      ["email"],
    );
    expect(mapped.byField).toEqual({ email: "First." });
  });

  it("sends what no input shows to the form's own message", () => {
    const mapped = mapFieldErrors(invalid([{ field: "kind", reason: "unexpected" }]), ["name"]);
    expect(mapped.other).toEqual(["kind: Unexpected."]);
    const conflict = new ApiError(409, "conflict", "the organization needs at least one owner");
    expect(mapFieldErrors(conflict, ["role"]).other).toEqual(["The organization needs at least one owner."]);
    expect(mapFieldErrors(new Error("boom"), ["role"]).other).toEqual(["boom"]);
  });
});

describe("errorMessage", () => {
  it("turns any error into a sentence for people", () => {
    expect(errorMessage(new ApiError(404, "not_found", "no such profile"))).toBe("No such profile.");
    expect(errorMessage(new ApiError(401, "x", "Sign in again!"))).toBe("Sign in again!");
    expect(errorMessage("strange")).toBe("Something went wrong.");
  });
});
