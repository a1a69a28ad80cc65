import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { renderHook, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import { describe, expect, it } from "vitest";
import { useDebouncedRequest } from "./useDebouncedRequest";

function wrapper({ children }: { children: ReactNode }) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

describe("useDebouncedRequest", () => {
  it("asks once the request stops changing, and keeps the last answer meanwhile", async () => {
    const asked: number[] = [];
    const { result, rerender } = renderHook(
      ({ request }: { request: { n: number } | null }) =>
        useDebouncedRequest({
          request,
          delay: 30,
          queryKey: (json) => ["double", json],
          queryFn: ({ n }: { n: number }) => {
            asked.push(n);
            return Promise.resolve(n * 2);
          },
        }),
      { wrapper, initialProps: { request: null as { n: number } | null } },
    );
    // Nothing to ask: no request, nothing updating.
    expect(result.current.updating).toBe(false);
    expect(result.current.query.fetchStatus).toBe("idle");

    rerender({ request: { n: 1 } });
    expect(result.current.updating).toBe(true);
    expect(result.current.current).toBe(false);
    await waitFor(() => expect(result.current.query.data).toBe(2));
    expect(result.current.current).toBe(true);
    expect(result.current.updating).toBe(false);

    rerender({ request: { n: 2 } });
    rerender({ request: { n: 3 } });
    // The previous answer stays while the new one is on its way.
    expect(result.current.query.data).toBe(2);
    expect(result.current.updating).toBe(true);
    await waitFor(() => expect(result.current.query.data).toBe(6));
    expect(asked).toEqual([1, 3]);
  });
});
