import { fireEvent, screen } from "@testing-library/react";
import { Link } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
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
