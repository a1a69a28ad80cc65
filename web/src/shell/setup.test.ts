import { describe, expect, it } from "vitest";
import { linksPointElsewhere } from "./setup";

describe("linksPointElsewhere", () => {
  it("accepts the same origin, with or without a path or trailing slash", () => {
    expect(linksPointElsewhere("http://127.0.0.1:8000", "http://127.0.0.1:8000")).toBe(false);
    expect(linksPointElsewhere("https://mail.shop.example/herald/", "https://mail.shop.example")).toBe(false);
    expect(linksPointElsewhere("https://shop.example:443", "https://shop.example")).toBe(false);
  });

  it("flags another port, host or scheme", () => {
    expect(linksPointElsewhere("http://127.0.0.1:8000", "http://127.0.0.1:8123")).toBe(true);
    expect(linksPointElsewhere("http://localhost:8000", "http://127.0.0.1:8000")).toBe(true);
    expect(linksPointElsewhere("http://shop.example", "https://shop.example")).toBe(true);
  });

  it("flags a base URL that is not a URL", () => {
    expect(linksPointElsewhere("shop.example", "https://shop.example")).toBe(true);
  });
});
