import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { ApiError } from "./api/errors";
import { keys } from "./api/queries";
import { isSignedOutError, SIGN_IN_MUTATION } from "./auth/session";

/** Client errors (4xx) are answers, not hiccups: retrying them changes nothing. A 429 (over a
 * rate limit) is the exception: it passes, and the retries wait a second, then two. */
export function shouldRetry(failures: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) return false;
  return failures < 2;
}

export function createQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    // When any request finds the session gone, the shell sends the user to the sign-in page.
    queryCache: new QueryCache({
      onError: (error, query) => {
        if (isSignedOutError(error) && query.queryKey[0] !== keys.me[0]) client.setQueryData(keys.me, null);
      },
    }),
    mutationCache: new MutationCache({
      onError: (error, _variables, _context, mutation) => {
        const signingIn = mutation.options.mutationKey?.[0] === SIGN_IN_MUTATION[0];
        if (isSignedOutError(error) && !signingIn) client.setQueryData(keys.me, null);
      },
    }),
    defaultOptions: {
      // Data is refetched whenever a screen mounts (cached data shows meanwhile), not on focus.
      queries: { retry: shouldRetry, refetchOnWindowFocus: false },
      mutations: { retry: false },
    },
  });
  return client;
}
