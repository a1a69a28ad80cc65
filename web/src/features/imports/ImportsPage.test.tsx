import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RequireAuth } from "../../auth/session";
import { formatCount } from "../../lib/format";
import { json, renderAt } from "../../test/render";
import { ImportsPage } from "./ImportsPage";
import type { Import } from "../../api/client";

const JOB_ID = "0190f3a4-0000-7000-8000-000000000001";

function running(done: number): Import {
  return {
    id: JOB_ID,
    type: "profiles",
    filename: "customers.csv",
    status: "running",
    progress_done: done,
    progress_total: 1000,
    error: null,
    result: null,
    counts: { rows: done, created: done - 10, updated: 10, unchanged: 0, errors: 0 },
    created_at: "2026-01-05T10:00:00Z",
    started_at: "2026-01-05T10:00:01Z",
    finished_at: null,
  };
}

function stubApi(role: "member" | "admin", lists: Import[][]) {
  const requests: string[] = [];
  let served = 0;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const url = new URL(request.url);
      requests.push(`${request.method} ${url.pathname}`);
      if (url.pathname === "/api/me") return json(200, { kind: "user", role, csrf_token: "t", organization: {}, user: {} });
      if (url.pathname === "/api/imports") {
        const page = lists[Math.min(served, lists.length - 1)] ?? [];
        served += 1;
        return json(200, { data: page, next_cursor: null });
      }
      if (url.pathname === `/api/jobs/${JOB_ID}/cancel`) return json(200, { id: JOB_ID, status: "cancelled" });
      return json(404, { error: { code: "not_found", message: "not found" } });
    }),
  );
  return requests;
}

/** The page as the app shows it: inside RequireAuth, which reads who is signed in. */
function AuthedImports() {
  return (
    <Routes>
      <Route element={<RequireAuth />}>
        <Route index element={<ImportsPage />} />
      </Route>
    </Routes>
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("ImportsPage", () => {
  it("follows a running import until it is done", async () => {
    const finished: Import = {
      ...running(1000),
      status: "succeeded",
      result: { rows: 1000, created: 990, updated: 10, unchanged: 0, errors: 0 },
      counts: { rows: 1000, created: 990, updated: 10, unchanged: 0, errors: 0 },
      finished_at: "2026-01-05T10:01:00Z",
    };
    const requests = stubApi("admin", [[running(250)], [finished]]);
    renderAt("/imports", [{ path: "/imports/*", element: <AuthedImports /> }]);

    const table = await screen.findByRole("table", { name: "Imports" });
    expect(within(table).getByText(`250 of ${formatCount(1000)} rows`)).toBeTruthy();
    expect(within(table).getByRole("progressbar", { name: "Progress of customers.csv" })).toBeTruthy();
    expect(within(table).getByText("240 created")).toBeTruthy();

    await waitFor(() => expect(within(table).getByText(`${formatCount(990)} created`)).toBeTruthy(), { timeout: 4000 });
    expect(within(table).getByText("Done")).toBeTruthy();
    expect(within(table).queryByRole("progressbar")).toBeNull();
    // Nothing runs any more: the list is not read again.
    const reads = requests.filter((r) => r === "GET /api/imports").length;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(requests.filter((r) => r === "GET /api/imports").length).toBe(reads);
  });

  it("lets an admin start imports and stop a running one", async () => {
    const requests = stubApi("admin", [[running(250)]]);
    renderAt("/imports", [{ path: "/imports/*", element: <AuthedImports /> }]);
    const table = await screen.findByRole("table", { name: "Imports" });
    expect(screen.getByRole("button", { name: "Import profiles" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Import events" })).toBeTruthy();

    const user = userEvent.setup();
    await user.click(within(table).getByRole("button", { name: "Stop importing customers.csv" }));
    const dialog = await screen.findByRole("dialog", { name: "Stop this import?" });
    await user.click(within(dialog).getByRole("button", { name: "Stop import" }));
    await waitFor(() => expect(requests).toContain(`POST /api/jobs/${JOB_ID}/cancel`));
  });

  it("shows a member the imports without the controls to start or stop them", async () => {
    stubApi("member", [[running(250)]]);
    renderAt("/imports", [{ path: "/imports/*", element: <AuthedImports /> }]);
    const table = await screen.findByRole("table", { name: "Imports" });
    expect(within(table).getByText("customers.csv")).toBeTruthy();
    expect(within(table).queryByRole("button", { name: /^Stop/ })).toBeNull();
    expect(screen.queryByRole("button", { name: "Import profiles" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Import events" })).toBeNull();
    expect(screen.getByText(/Admins and owners start imports/)).toBeTruthy();
  });
});
