import { afterEach, describe, expect, it, vi } from "vitest";
import { api, call } from "./client";
import { ApiError } from "./errors";

function answer(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
  document.cookie = "herald_csrf=; Max-Age=0; Path=/";
});

describe("the API client", () => {
  it("sends the session cookie and the CSRF token on writes, not on reads", async () => {
    document.cookie = "herald_csrf=token-123; Path=/";
    const fetch = vi.fn(async (_request: Request) => answer(201, { id: "k", key: "pk_x" }));
    vi.stubGlobal("fetch", fetch);
    await call(api.POST("/api/api-keys", { body: { name: "Site", kind: "public" } }));
    await call(api.GET("/api/api-keys"));
    const [write, read] = fetch.mock.calls.map(([request]) => request);
    expect(write?.method).toBe("POST");
    expect(write?.headers.get("X-CSRF-Token")).toBe("token-123");
    expect(write?.credentials).toBe("same-origin");
    expect(await write?.json()).toEqual({ name: "Site", kind: "public" });
    expect(read?.headers.get("X-CSRF-Token")).toBeNull();
  });

  it("throws Herald's error with its fields", async () => {
    vi.stubGlobal("fetch", async () =>
      answer(422, { error: { code: "invalid", message: "name: empty", fields: [{ field: "name", reason: "empty" }] } }),
    );
    const error = await call(api.PATCH("/api/organization", { body: { name: "" } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).fields).toEqual([{ field: "name", reason: "empty" }]);
  });

  it("reports an unreachable server as such, and empty answers as success", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(call(api.GET("/api/me"))).rejects.toMatchObject({ code: "network", status: 0 });
    vi.stubGlobal("fetch", async () => new Response(null, { status: 204 }));
    await expect(call(api.POST("/api/auth/logout"))).resolves.toBeUndefined();
    vi.stubGlobal("fetch", async () => new Response(null, { status: 403 }));
    await expect(call(api.DELETE("/api/users/{user_id}", { params: { path: { user_id: "u" } } }))).rejects.toMatchObject(
      { status: 403, code: "http_403" },
    );
  });
});
