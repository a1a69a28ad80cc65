import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useQuery } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { renderAt } from "../test/render";
import { CreateOrEdit, QueryList, QueryResult } from "./QueryResult";
import { useCursorPages } from "./useCursorPages";

function Thing({ load }: { load: () => Promise<string> }) {
  const query = useQuery({ queryKey: ["thing"], queryFn: load });
  return (
    <QueryResult query={query} loading="Loading the thing…" notFound={<p>No such thing</p>}>
      {(data) => <p>Got {data}</p>}
    </QueryResult>
  );
}

const PAGES: Record<string, { data: string[]; next_cursor: string | null }> = {
  first: { data: ["a", "b"], next_cursor: "second" },
  second: { data: ["c"], next_cursor: null },
};

function Things({ empty = false }: { empty?: boolean }) {
  const pages = useCursorPages();
  const query = useQuery({
    queryKey: ["things", empty, pages.cursor],
    queryFn: () => Promise.resolve(empty ? { data: [], next_cursor: null } : PAGES[pages.cursor ?? "first"]!),
  });
  return (
    <QueryList query={query} loading="Loading things…" empty={<p>Nothing yet</p>} pager={pages.pager}>
      {(items) => <ul aria-label="Things">{items.map((item) => <li key={item}>{item}</li>)}</ul>}
    </QueryList>
  );
}

describe("QueryResult", () => {
  it("shows the loading state, then the data", async () => {
    renderAt("/", [{ path: "/", element: <Thing load={() => Promise.resolve("it")} /> }]);
    expect(screen.getByRole("status")).toHaveProperty("textContent", "Loading the thing…");
    expect(await screen.findByText("Got it")).toBeTruthy();
  });

  it("shows notFound for a 404", async () => {
    renderAt("/", [{ path: "/", element: <Thing load={() => Promise.reject(new ApiError(404, "not_found", "Gone"))} /> }]);
    expect(await screen.findByText("No such thing")).toBeTruthy();
  });

  it("shows other errors with Try again", async () => {
    let calls = 0;
    const load = () => (++calls === 1 ? Promise.reject(new ApiError(500, "server_error", "Broken")) : Promise.resolve("it"));
    renderAt("/", [{ path: "/", element: <Thing load={load} /> }]);
    expect((await screen.findByRole("alert")).textContent).toContain("Broken");
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByText("Got it")).toBeTruthy();
  });
});

describe("QueryList", () => {
  it("shows the empty state when the page holds nothing", async () => {
    renderAt("/", [{ path: "/", element: <Things empty /> }]);
    expect(await screen.findByText("Nothing yet")).toBeTruthy();
    expect(screen.queryByRole("navigation", { name: "Pages" })).toBeNull();
  });

  it("shows the items and pages through them", async () => {
    renderAt("/", [{ path: "/", element: <Things /> }]);
    expect((await screen.findByRole("list", { name: "Things" })).textContent).toBe("ab");
    expect(screen.getByText("Page 1")).toBeTruthy();
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("Page 2")).toBeTruthy();
    expect((await screen.findByRole("list", { name: "Things" })).textContent).toBe("c");
    expect(screen.getByRole("button", { name: "Next" })).toHaveProperty("disabled", true);
    await userEvent.click(screen.getByRole("button", { name: "Previous" }));
    expect(await screen.findByText("Page 1")).toBeTruthy();
  });
});

function Editor({ id, load }: { id?: string; load: () => Promise<{ id: string; name: string }> }) {
  const query = useQuery({ queryKey: ["editable", id], queryFn: load, enabled: Boolean(id) });
  return (
    <CreateOrEdit id={id} query={query} thing="gadget">
      {(existing) => <p>{existing ? `Editing ${existing.name}` : "New gadget"}</p>}
    </CreateOrEdit>
  );
}

describe("CreateOrEdit", () => {
  it("creates when there is no id", () => {
    renderAt("/", [{ path: "/", element: <Editor load={() => Promise.reject(new Error("not asked"))} /> }]);
    expect(screen.getByText("New gadget")).toBeTruthy();
  });

  it("edits what it loaded", async () => {
    renderAt("/", [{ path: "/", element: <Editor id="g1" load={() => Promise.resolve({ id: "g1", name: "Sprocket" })} /> }]);
    expect(screen.getByText("Loading the gadget…")).toBeTruthy();
    expect(await screen.findByText("Editing Sprocket")).toBeTruthy();
  });

  it("says when there is no such thing", async () => {
    renderAt("/", [
      { path: "/", element: <Editor id="nope" load={() => Promise.reject(new ApiError(404, "not_found", "Gone"))} /> },
    ]);
    expect(await screen.findByRole("heading", { name: "Gadget not found" })).toBeTruthy();
    expect(screen.getByText("There is no such gadget")).toBeTruthy();
    expect(screen.getByText("It may have been deleted, or the address is wrong.")).toBeTruthy();
  });
});
