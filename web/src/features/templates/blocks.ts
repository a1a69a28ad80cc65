/** Saved blocks: MJML sections kept to reuse in any template (`/api/template-blocks`). */
import { queryOptions } from "@tanstack/react-query";
import { api, call } from "../../api/client";

export const templateBlocksQuery = queryOptions({
  queryKey: ["template-blocks"] as const,
  queryFn: async () => (await call(api.GET("/api/template-blocks"))).data,
  staleTime: 30_000,
});

export function saveBlock(name: string, mjml: string) {
  return call(api.POST("/api/template-blocks", { body: { name, mjml } }));
}
