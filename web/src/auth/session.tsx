/** The signed-in user: who they are, whether they may administer, and signing in and out. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, type MouseEvent } from "react";
import { Navigate, Outlet, useLocation, useNavigate } from "react-router";
import { api, call, type Me, type Role } from "../api/client";
import { rememberCsrfToken } from "../api/csrf";
import { ApiError } from "../api/errors";
import { keys, meQuery } from "../api/queries";
import { ErrorState, LoadingState } from "../components/States";
import { followDownload } from "../lib/download";

const RANK: Record<Role, number> = { member: 0, admin: 1, owner: 2 };

export function hasRole(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

/** True when an error means the session is gone (expired, signed out elsewhere). */
export function isSignedOutError(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}

const CurrentUser = createContext<Me | null>(null);

/** Renders its child routes for a signed-in user; sends anyone else to the sign-in page. */
export function RequireAuth() {
  const location = useLocation();
  const me = useQuery(meQuery);
  if (me.isPending) return <LoadingState label="Loading Herald…" fullPage />;
  if (me.isError) return <ErrorState error={me.error} onRetry={() => void me.refetch()} fullPage />;
  if (me.data === null) {
    const next = location.pathname + location.search;
    const target = next === "/" ? "/sign-in" : `/sign-in?next=${encodeURIComponent(next)}`;
    return <Navigate to={target} replace />;
  }
  return (
    <CurrentUser value={me.data}>
      <Outlet />
    </CurrentUser>
  );
}

/** The signed-in user; only inside RequireAuth, which guarantees there is one. */
export function useCurrentUser(): Me {
  const me = useContext(CurrentUser);
  if (me === null) throw new Error("useCurrentUser is only available inside RequireAuth");
  return me;
}

export function useIsAdmin(): boolean {
  return hasRole(useCurrentUser().role, "admin");
}

export const SIGN_IN_MUTATION = ["sign-in"] as const;

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationKey: SIGN_IN_MUTATION,
    mutationFn: (body: { email: string; password: string }) =>
      call(api.POST("/api/auth/login", { body })),
    onSuccess: async (session) => {
      rememberCsrfToken(session.csrf_token);
      queryClient.removeQueries();
      await queryClient.fetchQuery(meQuery);
    },
  });
}

export function useSignOut() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: () => call(api.POST("/api/auth/logout")),
    onSettled: () => {
      rememberCsrfToken(null);
      queryClient.clear();
      queryClient.setQueryData(keys.me, null);
      void navigate("/sign-in", { replace: true });
    },
  });
}

/** The click handler of a link to a file that the server makes for the signed-in user (an export,
 * an error report). The session is checked first: one that has ended leads to the sign-in page,
 * instead of the server's 401 answer being saved as the file. Clicks that open the link elsewhere
 * (a new tab, a modifier key) are left to the browser. */
export function useSignedInDownload(): (event: MouseEvent<HTMLAnchorElement>) => void {
  const queryClient = useQueryClient();
  return (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const link = event.currentTarget;
    const href = link.href;
    const name = link.getAttribute("download") ?? "";
    // A null answer signs the user out (RequireAuth then shows the sign-in page); a network
    // error is left for the download itself to report.
    queryClient.fetchQuery({ ...meQuery, staleTime: 0 }).then(
      (me) => {
        if (me !== null) followDownload(href, name);
      },
      () => followDownload(href, name),
    );
  };
}
