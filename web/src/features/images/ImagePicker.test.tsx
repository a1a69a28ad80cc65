import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderAt } from "../../test/render";
import type { LibraryImage } from "./api";
import { ImagePicker } from "./ImagePicker";

function image(id: string, name: string): LibraryImage {
  return {
    id,
    name,
    content_type: "image/png",
    width: 600,
    height: 200,
    size_bytes: 2048,
    url: `https://mail.example.com/images/p${id}/${name}`,
    created_at: "2026-01-05T10:00:00Z",
  };
}

function stubApi(images: LibraryImage[], uploaded: LibraryImage) {
  const requests: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const url = new URL(request.url);
      requests.push(`${request.method} ${url.pathname}${url.search}`);
      if (url.pathname === "/api/images" && request.method === "GET") {
        const search = url.searchParams.get("search") ?? "";
        return json(200, { data: images.filter((i) => i.name.includes(search)), next_cursor: null });
      }
      if (url.pathname === "/api/images" && request.method === "POST") return json(201, uploaded);
      return json(404, { error: { code: "not_found", message: "not found" } });
    }),
  );
  return requests;
}

describe("ImagePicker", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists the library and hands back the chosen image", async () => {
    stubApi([image("1", "hero.png"), image("2", "logo.png")], image("3", "new.png"));
    const onPick = vi.fn();
    const onClose = vi.fn();
    renderAt("/", [{ path: "/", element: <ImagePicker opened onClose={onClose} onPick={onPick} /> }]);
    const grid = await screen.findByRole("list", { name: "Images" });
    expect(within(grid).getAllByRole("listitem")).toHaveLength(2);
    expect(within(grid).getAllByText("600×200 · 2.0 KB")).toHaveLength(2);
    await userEvent.click(within(grid).getByRole("button", { name: "Choose logo.png" }));
    expect(onPick).toHaveBeenCalledWith(expect.objectContaining({ id: "2", url: expect.stringContaining("logo.png") }));
    expect(onClose).toHaveBeenCalled();
  });

  it("picks an image as soon as it is uploaded", async () => {
    const requests = stubApi([], image("3", "new.png"));
    const onPick = vi.fn();
    const { container } = renderAt("/", [
      { path: "/", element: <ImagePicker opened onClose={() => undefined} onPick={onPick} /> },
    ]);
    await screen.findByText("No images yet");
    const input = container.ownerDocument.querySelector<HTMLInputElement>('input[type="file"]');
    expect(input).not.toBeNull();
    await userEvent.upload(input!, new File([new Uint8Array([137, 80, 78, 71])], "new.png", { type: "image/png" }));
    await waitFor(() => expect(onPick).toHaveBeenCalledWith(expect.objectContaining({ id: "3" })));
    expect(requests).toContain("POST /api/images");
  });
});
