/** The analytics API's queries, keyed by the date range so a new range loads new figures. */
import { queryOptions } from "@tanstack/react-query";
import { api, call, type Schemas } from "../../api/client";
import type { operations } from "../../api/schema";

export type Overview = Schemas["Overview"];
export type Figures = Schemas["Figures"];
export type SourceRow = Schemas["SourceRow"];
export type Series = Schemas["Series"];
export type Deliverability = Schemas["Deliverability"];
export type DeliveryRow = Schemas["DeliveryRow"];
export type EventReport = Schemas["EventReport"];
export type LinkRow = Schemas["LinkRow"];
export type SegmentReport = Schemas["SegmentReport"];
export type Measure = NonNullable<NonNullable<operations["analytics_timeseries"]["parameters"]["query"]>["measure"]>;
export type Interval = "hour" | "day" | "week" | "month";

/** Local days, both included, as the API takes them (YYYY-MM-DD). */
export type DateRange = { from: string; to: string };

export const analyticsKey = ["analytics"] as const;

/** The JSON answer of an endpoint that can also answer CSV (`format=csv`, not used here). */
async function json<T>(request: Promise<unknown>): Promise<T> {
  return (await request) as T;
}

export function overviewQuery(range: DateRange) {
  return queryOptions({
    queryKey: [...analyticsKey, "overview", range],
    queryFn: () => call(api.GET("/api/analytics/overview", { params: { query: range } })),
  });
}

export function seriesQuery(range: DateRange, measure: Measure, interval: Interval, source?: string) {
  return queryOptions({
    queryKey: [...analyticsKey, "series", range, measure, interval, source ?? null],
    queryFn: () =>
      json<Series>(
        call(
          api.GET("/api/analytics/timeseries", {
            params: { query: { ...range, measure, interval, ...(source ? { source } : {}) } },
          }),
        ),
      ),
  });
}

export type SourceSort = "name" | "source" | "channel" | Measure;

export function sourcesQuery(
  range: DateRange,
  options: { source?: string; sort?: SourceSort; order?: "asc" | "desc"; limit?: number; offset?: number } = {},
) {
  return queryOptions({
    queryKey: [...analyticsKey, "sources", range, options],
    queryFn: () =>
      json<Schemas["SourceTable"]>(call(api.GET("/api/analytics/sources", { params: { query: { ...range, ...options } } }))),
  });
}

export function deliverabilityQuery(range: DateRange, by: "provider" | "domain") {
  return queryOptions({
    queryKey: [...analyticsKey, "deliverability", range, by],
    queryFn: () =>
      json<Deliverability>(call(api.GET("/api/analytics/deliverability", { params: { query: { ...range, by } } }))),
  });
}

export function eventsQuery(range: DateRange, interval: Interval) {
  return queryOptions({
    queryKey: [...analyticsKey, "events", range, interval],
    queryFn: () => json<EventReport>(call(api.GET("/api/analytics/events", { params: { query: { ...range, interval } } }))),
  });
}

export function linksQuery(campaignId: string) {
  return queryOptions({
    queryKey: [...analyticsKey, "links", campaignId],
    queryFn: () =>
      json<Schemas["LinkTable"]>(
        call(
          api.GET("/api/analytics/campaigns/{campaign_id}/links", {
            params: { path: { campaign_id: campaignId } },
          }),
        ),
      ),
  });
}

export function segmentReportQuery(segmentId: string, range: DateRange) {
  return queryOptions({
    queryKey: [...analyticsKey, "segment", segmentId, range],
    queryFn: () =>
      json<SegmentReport>(
        call(
          api.GET("/api/analytics/segments/{segment_id}", {
            params: { path: { segment_id: segmentId }, query: range },
          }),
        ),
      ),
  });
}

/** The address of a table's CSV export (the same query, `format=csv`). */
export function csvHref(path: string, query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  params.set("format", "csv");
  return `/api/analytics/${path}?${params.toString()}`;
}
