/**
 * Cursor paging for tables with Previous / Next buttons. Herald's lists are keyset-paginated:
 * each page names the cursor of the next one (`next_cursor`, null at the end) and there is no
 * way back, so the pages visited so far are kept as a stack of the cursors that loaded them.
 */

export interface CursorPages {
  /** The cursor that loaded each visited page; the first page has none. */
  readonly cursors: readonly (string | undefined)[];
}

export const FIRST_PAGE: CursorPages = { cursors: [undefined] };

export function currentCursor(pages: CursorPages): string | undefined {
  return pages.cursors[pages.cursors.length - 1];
}

export function pageNumber(pages: CursorPages): number {
  return pages.cursors.length;
}

export function hasPreviousPage(pages: CursorPages): boolean {
  return pages.cursors.length > 1;
}

export function nextPage(pages: CursorPages, nextCursor: string | null | undefined): CursorPages {
  if (!nextCursor) return pages;
  return { cursors: [...pages.cursors, nextCursor] };
}

export function previousPage(pages: CursorPages): CursorPages {
  if (!hasPreviousPage(pages)) return pages;
  return { cursors: pages.cursors.slice(0, -1) };
}

/** For infinite lists (TanStack's useInfiniteQuery): the next page's cursor, if any. */
export function nextCursorOf(page: { next_cursor?: string | null }): string | undefined {
  return page.next_cursor ?? undefined;
}

/** All items of the pages loaded so far, in order. */
export function flattenPages<T>(pages: readonly { data: readonly T[] }[] | undefined): T[] {
  return pages ? pages.flatMap((page) => page.data) : [];
}
