import { Paper } from "@mantine/core";
import type { UseQueryResult } from "@tanstack/react-query";
import { Fragment, type ReactNode } from "react";
import { isNotFound } from "../lib/notFound";
import { Pager, type PagerProps } from "./Pager";
import { ErrorState, LoadingState, NotFoundState } from "./States";

/**
 * A query's loading and error states (with "Try again"), then what it loaded. With `notFound`,
 * a 404 (or a malformed id) shows that instead of the error.
 */
export function QueryResult<T, E>({
  query,
  loading,
  notFound,
  children,
}: {
  query: UseQueryResult<T, E>;
  loading: string;
  notFound?: ReactNode;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <LoadingState label={loading} />;
  if (query.isError) {
    if (notFound !== undefined && isNotFound(query.error)) return <>{notFound}</>;
    return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  }
  return <>{children(query.data)}</>;
}

/** One page of a list as the API returns it. */
export interface ListPage<T> {
  data: T[];
  next_cursor?: string | null;
}

/**
 * A list screen's body: loading, error, `empty` when the page holds nothing, otherwise the
 * items (in a bordered frame unless `framed` is off) and, with `pager`, Previous / Next.
 */
export function QueryList<T, E>({
  query,
  loading,
  empty,
  pager,
  framed = true,
  children,
}: {
  query: UseQueryResult<ListPage<T>, E>;
  loading: string;
  empty: ReactNode;
  /** From useCursorPages: the Pager's props for this page. */
  pager?: (nextCursor: string | null | undefined, busy: boolean) => PagerProps;
  framed?: boolean;
  children: (items: T[]) => ReactNode;
}) {
  return (
    <QueryResult query={query} loading={loading}>
      {(page) =>
        page.data.length === 0 ? (
          empty
        ) : (
          <>
            {framed ? <Paper withBorder>{children(page.data)}</Paper> : children(page.data)}
            {pager && <Pager {...pager(page.next_cursor, query.isFetching)} />}
          </>
        )
      }
    </QueryResult>
  );
}

/**
 * A screen that creates a `thing` when the address names none (`id` undefined), and otherwise
 * edits the one it names once `query` has loaded it. The editor starts afresh for another id.
 */
export function CreateOrEdit<T extends { id: string }, E>({
  id,
  query,
  thing,
  children,
}: {
  id: string | undefined;
  query: UseQueryResult<T, E>;
  /** In lower case, as in "Loading the segment…". */
  thing: string;
  children: (existing?: T) => ReactNode;
}) {
  if (!id) return <>{children()}</>;
  return (
    <QueryResult query={query} loading={`Loading the ${thing}…`} notFound={<NotFoundState thing={thing} />}>
      {(data) => <Fragment key={data.id}>{children(data)}</Fragment>}
    </QueryResult>
  );
}
