/** The image library's calls and query keys (the Images screen and the ImagePicker share them). */
import { infiniteQueryOptions } from "@tanstack/react-query";
import { api, call, type Schemas } from "../../api/client";
import { nextCursorOf } from "../../lib/paging";
import { uploadForm } from "../imports/upload";

export type LibraryImage = Schemas["Image"];

export const IMAGE_PAGE_SIZE = 48;
/** What the file pickers offer; the server reads the type from the bytes either way. */
export const IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp";

export const imageKeys = {
  all: ["images"] as const,
  list: (search: string) => ["images", "list", search] as const,
};

export function imagesQuery(search: string) {
  return infiniteQueryOptions({
    queryKey: imageKeys.list(search),
    queryFn: ({ pageParam }) =>
      call(
        api.GET("/api/images", {
          params: { query: { limit: IMAGE_PAGE_SIZE, cursor: pageParam, search: search || undefined } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: nextCursorOf,
  });
}

export function uploadImage(file: File): Promise<LibraryImage> {
  const form = uploadForm(file);
  // The typed body stands for the parts; the form data is what is sent.
  return call(api.POST("/api/images", { body: { file: file.name }, bodySerializer: () => form }));
}

export function deleteImage(id: string): Promise<unknown> {
  return call(api.DELETE("/api/images/{image_id}", { params: { path: { image_id: id } } }));
}

/** The image's path on this Herald: thumbnails load from the dashboard's own origin even when
 * HERALD_BASE_URL names another (the copied URL stays the public one). */
export function localSource(image: Pick<LibraryImage, "url">): string {
  try {
    return new URL(image.url).pathname;
  } catch {
    return image.url;
  }
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(size < 10 * 1024 ? 1 : 0)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

export const FORMAT_LABELS: Record<LibraryImage["content_type"], string> = {
  "image/png": "PNG",
  "image/jpeg": "JPEG",
  "image/gif": "GIF",
  "image/webp": "WebP",
};
