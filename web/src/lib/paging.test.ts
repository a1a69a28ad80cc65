import { describe, expect, it } from "vitest";
import {
  currentCursor,
  FIRST_PAGE,
  flattenPages,
  hasPreviousPage,
  nextCursorOf,
  nextPage,
  pageNumber,
  previousPage,
} from "./paging";

describe("cursor pages", () => {
  it("walks forward with next_cursor and back through the cursors seen", () => {
    let pages = FIRST_PAGE;
    expect([currentCursor(pages), pageNumber(pages), hasPreviousPage(pages)]).toEqual([undefined, 1, false]);
    pages = nextPage(pages, "c1");
    pages = nextPage(pages, "c2");
    expect([currentCursor(pages), pageNumber(pages), hasPreviousPage(pages)]).toEqual(["c2", 3, true]);
    pages = previousPage(pages);
    expect(currentCursor(pages)).toBe("c1");
    pages = previousPage(previousPage(pages));
    expect(pages.cursors).toEqual([undefined]);
  });

  it("stays on the last page when there is no next cursor", () => {
    const pages = nextPage(FIRST_PAGE, "c1");
    expect(nextPage(pages, null)).toBe(pages);
    expect(nextPage(pages, undefined)).toBe(pages);
  });

  it("helps infinite lists", () => {
    expect(nextCursorOf({ next_cursor: "c" })).toBe("c");
    expect(nextCursorOf({ next_cursor: null })).toBeUndefined();
    expect(flattenPages([{ data: [1, 2] }, { data: [3] }])).toEqual([1, 2, 3]);
    expect(flattenPages(undefined)).toEqual([]);
  });
});
