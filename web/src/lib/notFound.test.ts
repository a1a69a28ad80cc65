import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { isNotFound } from "./notFound";

describe("isNotFound", () => {
  it("is true for 404 and for a malformed id (422)", () => {
    expect(isNotFound(new ApiError(404, "not_found", "Not found"))).toBe(true);
    expect(isNotFound(new ApiError(422, "invalid_input", "Invalid"))).toBe(true);
  });

  it("is false for other failures", () => {
    expect(isNotFound(new ApiError(500, "server_error", "Oops"))).toBe(false);
    expect(isNotFound(new ApiError(403, "forbidden", "No"))).toBe(false);
    expect(isNotFound(new Error("network"))).toBe(false);
    expect(isNotFound(null)).toBe(false);
  });
});
