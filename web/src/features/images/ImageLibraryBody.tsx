/** Search, loading, error and empty states around the image grid; shared by the Images screen
 * and the ImagePicker. */
import { TextInput } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconPhoto, IconSearch } from "@tabler/icons-react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { ErrorState, EmptyState, LoadingState } from "../../components/States";
import { imagesQuery, type LibraryImage } from "./api";
import { ImageGrid } from "./ImageGrid";

export function ImageLibraryBody({
  actions,
  columns,
}: {
  actions: (image: LibraryImage) => ReactNode;
  columns?: Record<string, number>;
}) {
  const [search, setSearch] = useState("");
  const [debounced] = useDebouncedValue(search.trim(), 250);
  const query = useInfiniteQuery(imagesQuery(debounced));
  const empty = (query.data?.pages[0]?.data.length ?? 0) === 0;
  return (
    <>
      <TextInput
        label="Search images"
        placeholder="Name contains…"
        leftSection={<IconSearch size={16} aria-hidden />}
        value={search}
        onChange={(event) => setSearch(event.currentTarget.value)}
        maw={360}
        maxLength={255}
      />
      {query.isPending ? (
        <LoadingState label="Loading images…" />
      ) : query.isError ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : empty ? (
        <EmptyState title={debounced ? "No image matches" : "No images yet"} icon={<IconPhoto aria-hidden />}>
          {debounced
            ? "Try another part of the name."
            : "Upload the logos, banners and product pictures your emails show: they are served from your Herald with long cache headers."}
        </EmptyState>
      ) : (
        <ImageGrid query={query} actions={actions} columns={columns} />
      )}
    </>
  );
}
