import { describe, expect, it } from "vitest";
import { formatBytes, localSource } from "./api";

describe("formatBytes", () => {
  it("reads as people expect", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(200 * 1024)).toBe("200 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MB");
  });
});

describe("localSource", () => {
  it("is the public URL's path, so thumbnails load from the dashboard's own origin", () => {
    expect(localSource({ url: "https://mail.example.com/images/abc/logo.png" })).toBe("/images/abc/logo.png");
  });

  it("leaves a URL it cannot parse alone", () => {
    expect(localSource({ url: "/images/abc/logo.png" })).toBe("/images/abc/logo.png");
  });
});
