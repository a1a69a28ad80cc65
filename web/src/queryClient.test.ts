import { describe, expect, it } from "vitest";
import { ApiError } from "./api/errors";
import { keys } from "./api/queries";
import { createQueryClient, shouldRetry } from "./queryClient";

describe("the query client", () => {
  it("retries hiccups but not answers", () => {
    expect(shouldRetry(0, new ApiError(503, "unavailable", "down"))).toBe(true);
    expect(shouldRetry(2, new ApiError(503, "unavailable", "down"))).toBe(false);
    expect(shouldRetry(0, new ApiError(0, "network", "unreachable"))).toBe(true);
    expect(shouldRetry(0, new ApiError(404, "not_found", "gone"))).toBe(false);
    expect(shouldRetry(0, new ApiError(422, "invalid", "bad"))).toBe(false);
    expect(shouldRetry(0, new ApiError(429, "rate_limited", "too many requests"))).toBe(true);
    expect(shouldRetry(2, new ApiError(429, "rate_limited", "too many requests"))).toBe(false);
  });

  it("signs the shell out when any request finds the session gone", async () => {
    const client = createQueryClient();
    client.setQueryData(keys.me, { kind: "user" });
    await client
      .fetchQuery({
        queryKey: keys.metrics,
        queryFn: () => Promise.reject(new ApiError(401, "not_authenticated", "your session has ended")),
        retry: false,
      })
      .catch(() => undefined);
    expect(client.getQueryData(keys.me)).toBeNull();
  });
});
