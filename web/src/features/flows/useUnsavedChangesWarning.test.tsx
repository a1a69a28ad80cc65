import { fireEvent, screen } from "@testing-library/react";
import { Link } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { renderAt } from "../../test/render";
import { UNSAVED_MESSAGE, useUnsavedChangesWarning } from "./useUnsavedChangesWarning";

function Editor({ dirty }: { dirty: boolean }) {
  useUnsavedChangesWarning(dirty);
  return (
    <>
      <h1>Builder</h1>
      <Link to="/flows">Flows</Link>
    </>
  );
}

function renderEditor(dirty: boolean) {
  return renderAt("/flows/1", [
    { path: "/flows/1", element: <Editor dirty={dirty} /> },
    { path: "/flows", element: <h1>All flows</h1> },
  ]);
}

describe("the unsaved-changes warning", () => {
  afterEach(() => vi.restoreAllMocks());

  it("asks before a link leaves unsaved changes, and stays when told to", () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    renderEditor(true);
    fireEvent.click(screen.getByRole("link", { name: "Flows" }));
    expect(confirm).toHaveBeenCalledWith(UNSAVED_MESSAGE);
    expect(screen.getByRole("heading", { name: "Builder" })).toBeTruthy();
  });

  it("leaves when the person agrees", () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    renderEditor(true);
    fireEvent.click(screen.getByRole("link", { name: "Flows" }));
    expect(screen.getByRole("heading", { name: "All flows" })).toBeTruthy();
  });

  it("asks nothing when everything is saved, and asks the browser on unload only while dirty", () => {
    const confirm = vi.spyOn(window, "confirm");
    renderEditor(false);
    const unload = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(unload);
    expect(unload.defaultPrevented).toBe(false);
    fireEvent.click(screen.getByRole("link", { name: "Flows" }));
    expect(confirm).not.toHaveBeenCalled();
    expect(screen.getByRole("heading", { name: "All flows" })).toBeTruthy();
  });

  it("has the browser ask before the tab closes while dirty", () => {
    renderEditor(true);
    const unload = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(unload);
    expect(unload.defaultPrevented).toBe(true);
  });
});

describe("the Back button with unsaved changes", () => {
  // Earlier tests leave the guard's entry in jsdom's history: start each on a plain one.
  beforeEach(() => window.history.replaceState(null, "", window.location.href));
  afterEach(() => vi.restoreAllMocks());

  it("stands on a guard entry, asks on Back, and puts the guard back to stay", () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    const push = vi.spyOn(window.history, "pushState");
    renderEditor(true);
    expect(push).toHaveBeenCalledTimes(1);
    window.history.replaceState({}, "", window.location.href);
    window.dispatchEvent(new PopStateEvent("popstate", { state: {} }));
    expect(confirm).toHaveBeenCalledWith(UNSAVED_MESSAGE);
    expect(push).toHaveBeenCalledTimes(2);
    expect(screen.getByRole("heading", { name: "Builder" })).toBeTruthy();
  });

  it("goes back once more when the person agrees", () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const back = vi.spyOn(window.history, "back").mockImplementation(() => undefined);
    renderEditor(true);
    window.history.replaceState({}, "", window.location.href);
    window.dispatchEvent(new PopStateEvent("popstate", { state: {} }));
    expect(back).toHaveBeenCalledTimes(1);
  });

  it("adds no guard while everything is saved", () => {
    const push = vi.spyOn(window.history, "pushState");
    renderEditor(false);
    expect(push).not.toHaveBeenCalled();
  });
});
