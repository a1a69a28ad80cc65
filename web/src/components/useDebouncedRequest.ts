import { useDebouncedValue } from "@mantine/hooks";
import { keepPreviousData, useQuery, type QueryKey } from "@tanstack/react-query";

/**
 * Asks the API about what is being edited (a preview, an estimate) a moment after it stops
 * changing. `request` null means there is nothing to ask yet. Until the answer for the current
 * request comes, the previous one stays shown; `current` says whether the answer (or error) is
 * about what is on screen now, `updating` whether a newer one is on its way.
 */
export function useDebouncedRequest<Req, Res>({
  request,
  delay,
  queryKey,
  queryFn,
  staleTime,
}: {
  request: Req | null;
  delay: number;
  /** The cache key of a request, given as JSON. */
  queryKey: (json: string) => QueryKey;
  queryFn: (request: Req) => Promise<Res>;
  staleTime?: number;
}) {
  const json = request === null ? "" : JSON.stringify(request);
  const [debounced] = useDebouncedValue(json, delay);
  const query = useQuery({
    queryKey: queryKey(debounced),
    queryFn: () => queryFn(JSON.parse(debounced) as Req),
    enabled: debounced !== "",
    placeholderData: keepPreviousData,
    retry: false,
    ...(staleTime !== undefined && { staleTime }),
  });
  const current = debounced === json;
  return { query, current, updating: json !== "" && (!current || query.isFetching) };
}
