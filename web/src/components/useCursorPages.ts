import { useState } from "react";
import {
  currentCursor,
  FIRST_PAGE,
  hasPreviousPage,
  nextPage,
  pageNumber,
  previousPage,
  type CursorPages,
} from "../lib/paging";
import type { PagerProps } from "./Pager";

/**
 * The pages of a cursor-paginated list visited so far (see lib/paging). Paging starts over on
 * `reset()`, and whenever `key` (what the list is filtered by, say) changes.
 */
export function useCursorPages(key = "") {
  const [state, setState] = useState<{ key: string; pages: CursorPages }>({ key, pages: FIRST_PAGE });
  const pages = state.key === key ? state.pages : FIRST_PAGE;
  const change = (to: (current: CursorPages) => CursorPages) =>
    setState((current) => ({ key, pages: to(current.key === key ? current.pages : FIRST_PAGE) }));
  return {
    /** The cursor of the page to load; undefined for the first. */
    cursor: currentCursor(pages),
    /** Back to the first page. */
    reset: () => setState({ key, pages: FIRST_PAGE }),
    /** The Pager's props, given the loaded page's next cursor and whether it is being fetched. */
    pager: (nextCursor: string | null | undefined, busy: boolean): PagerProps => ({
      page: pageNumber(pages),
      hasPrevious: hasPreviousPage(pages),
      hasNext: Boolean(nextCursor),
      busy,
      onPrevious: () => change(previousPage),
      onNext: () => change((current) => nextPage(current, nextCursor)),
    }),
  };
}
