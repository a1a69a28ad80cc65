import { afterEach, describe, expect, it } from "vitest";
import { currentCsrfToken, needsCsrf, readCookie, rememberCsrfToken } from "./csrf";

afterEach(() => rememberCsrfToken(null));

describe("the CSRF token", () => {
  it("is read from the herald_csrf cookie", () => {
    expect(readCookie("herald_csrf", "a=1; herald_csrf=tok%3Den; b=2")).toBe("tok=en");
    expect(readCookie("herald_csrf", "herald_csrfx=1")).toBeNull();
    expect(currentCsrfToken("herald_csrf=from-cookie")).toBe("from-cookie");
  });

  it("falls back to the one the API returned", () => {
    rememberCsrfToken("from-api");
    expect(currentCsrfToken("")).toBe("from-api");
    expect(currentCsrfToken("herald_csrf=from-cookie")).toBe("from-cookie");
  });

  it("goes with unsafe methods only", () => {
    expect(["POST", "put", "PATCH", "DELETE"].every(needsCsrf)).toBe(true);
    expect(["GET", "HEAD", "OPTIONS"].some(needsCsrf)).toBe(false);
  });
});
