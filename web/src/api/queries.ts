/** Every read the dashboard makes, as TanStack Query options: one place for keys and calls. */
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { nextCursorOf } from "../lib/paging";
import {
  api,
  call,
  type ImportType,
  type Me,
  type MessageStatus,
  type Schemas,
  type SuppressionChannel,
  type SuppressionReason,
} from "./client";
import { rememberCsrfToken } from "./csrf";
import { ApiError } from "./errors";

export const PAGE_SIZE = 25;

export const keys = {
  me: ["me"] as const,
  organization: ["organization"] as const,
  users: ["users"] as const,
  apiKeys: ["api-keys"] as const,
  rateLimits: ["rate-limits"] as const,
  retention: ["retention"] as const,
  metrics: ["metrics"] as const,
  events: (name: string | null) => ["events", name] as const,
  eventsAll: ["events"] as const,
  profiles: (q: string, cursor: string | undefined) => ["profiles", q, cursor ?? null] as const,
  profilesAll: ["profiles"] as const,
  profileCount: (filter: string) => ["profiles", "count", filter] as const,
  profile: (id: string) => ["profile", id] as const,
  timeline: (id: string) => ["timeline", id] as const,
  segmentsAll: ["segments"] as const,
  segment: (id: string) => ["segments", "one", id] as const,
  segmentMembers: (id: string, cursor: string | undefined) => ["segments", "members", id, cursor ?? null] as const,
  segmentGrowth: (id: string, days: number) => ["segments", "growth", id, days] as const,
  segmentCatalog: ["segment-catalog"] as const,
  propertyValues: (subject: string, prefix: string) => ["segment-catalog", "values", subject, prefix] as const,
  eventPropertyCatalog: (metric: string) => ["segment-catalog", "event-properties", metric] as const,
  segmentEstimate: (definition: string) => ["segment-estimate", definition] as const,
  job: (id: string) => ["job", id] as const,
  profileSegments: (id: string) => ["profile", id, "segments"] as const,
  profileConsent: (id: string) => ["profile", id, "consent"] as const,
  templatesAll: ["templates"] as const,
  template: (id: string) => ["templates", "one", id] as const,
  templatePreview: (request: string) => ["template-preview", request] as const,
  profileSearch: (q: string) => ["profile-search", q] as const,
  outboxAll: ["outbox"] as const,
  outbox: (to: string, cursor: string | undefined) => ["outbox", "list", to, cursor ?? null] as const,
  outboxMessage: (id: string) => ["outbox", "one", id] as const,
  messagesAll: ["messages"] as const,
  messages: (status: string, cursor: string | undefined) => ["messages", "list", status, cursor ?? null] as const,
  message: (id: string) => ["messages", "one", id] as const,
  emailSettings: ["email-settings"] as const,
  smsSettings: ["sms-settings"] as const,
  smsSegments: (body: string) => ["sms-segments", body] as const,
  smsTemplates: ["sms-templates"] as const,
  profileSms: (id: string) => ["profile-sms", id] as const,
  suppressionsAll: ["suppressions"] as const,
  campaignsAll: ["campaigns"] as const,
  importsAll: ["imports"] as const,
  importErrorRows: (id: string, limit: number) => ["imports", "error-rows", id, limit] as const,
  imports: (type: "" | ImportType, cursor: string | undefined) => ["imports", "list", type, cursor ?? null] as const,
  campaignAudience: (request: string) => ["campaigns", "audience", request] as const,
  campaign: (id: string) => ["campaigns", "one", id] as const,
  campaignStats: (id: string) => ["campaigns", "stats", id] as const,
  campaignPreview: (id: string, request: string, version: string) => ["campaigns", "preview", id, request, version] as const,
  campaignRecipients: (id: string, status: string, cursor: string | undefined) =>
    ["campaigns", "recipients", id, status, cursor ?? null] as const,
  flowLists: ["flows", "list"] as const,
  flows: (status: string) => ["flows", "list", status] as const,
  flow: (id: string) => ["flows", "one", id] as const,
  flowResults: (id: string) => ["flows", "results", id] as const,
  flowEnrolments: (id: string, status: string, step: string, cursor: string | undefined) =>
    ["flows", "enrolments", id, status, step, cursor ?? null] as const,
  flowEnrolment: (flowId: string, id: string) => ["flows", "enrolment", flowId, id] as const,
  flowTemplates: ["flow-templates"] as const,
  flowWebhookSettings: ["flow-webhook-settings"] as const,
  profileFlows: (id: string) => ["profile", id, "flows"] as const,
  suppressions: (filter: SuppressionFilter, cursor: string | undefined) =>
    ["suppressions", filter.channel, filter.reason, filter.q, cursor ?? null] as const,
};

/** The suppression list's filters; an empty string is "any". */
export interface SuppressionFilter {
  channel: "" | SuppressionChannel;
  reason: "" | SuppressionReason;
  q: string;
}

/** Who is signed in, or null when nobody is (a 401 is an answer here, not an error). */
export const meQuery = queryOptions({
  queryKey: keys.me,
  queryFn: async (): Promise<Me | null> => {
    try {
      const me = await call(api.GET("/api/me"));
      rememberCsrfToken(me.csrf_token);
      return me;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return null;
      throw error;
    }
  },
  staleTime: 5 * 60_000,
  retry: false,
});

export const organizationQuery = queryOptions({
  queryKey: keys.organization,
  queryFn: () => call(api.GET("/api/organization")),
});

export const usersQuery = queryOptions({
  queryKey: keys.users,
  queryFn: () => call(api.GET("/api/users")),
});

export const apiKeysQuery = queryOptions({
  queryKey: keys.apiKeys,
  queryFn: () => call(api.GET("/api/api-keys")),
});

export const rateLimitsQuery = queryOptions({
  queryKey: keys.rateLimits,
  queryFn: () => call(api.GET("/api/rate-limits")),
});

export const retentionQuery = queryOptions({
  queryKey: keys.retention,
  queryFn: () => call(api.GET("/api/retention")),
});

export const metricsQuery = queryOptions({
  queryKey: keys.metrics,
  queryFn: () => call(api.GET("/api/metrics")),
});

export function eventsQuery(name: string | null) {
  return infiniteQueryOptions({
    queryKey: keys.events(name),
    queryFn: ({ pageParam }) =>
      call(
        api.GET("/api/events", {
          params: { query: { limit: PAGE_SIZE, cursor: pageParam, name: name ?? undefined } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: nextCursorOf,
  });
}

/** A page of the profile list; `filter` holds the API's query parameters (q, segment_id, field...). */
export function profilesQuery(filter: Record<string, string>, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.profiles(JSON.stringify(filter), cursor),
    queryFn: () =>
      call(api.GET("/api/profiles", { params: { query: { ...filter, cursor, limit: PAGE_SIZE } } })),
    placeholderData: (previous) => previous,
  });
}

/** How many profiles the list's filters match (exact up to a bound). */
export function profileCountQuery(filter: Record<string, string>) {
  return queryOptions({
    queryKey: keys.profileCount(JSON.stringify(filter)),
    queryFn: () => call(api.GET("/api/profiles/count", { params: { query: filter } })),
    placeholderData: (previous) => previous,
  });
}

export function profileQuery(id: string) {
  return queryOptions({
    queryKey: keys.profile(id),
    queryFn: () =>
      call(api.GET("/api/profiles/{profile_id}", { params: { path: { profile_id: id } } })),
  });
}

export function timelineQuery(id: string) {
  return infiniteQueryOptions({
    queryKey: keys.timeline(id),
    queryFn: ({ pageParam }) =>
      call(
        api.GET("/api/profiles/{profile_id}/timeline", {
          params: { path: { profile_id: id }, query: { limit: PAGE_SIZE, cursor: pageParam } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: nextCursorOf,
  });
}

export const segmentsQuery = queryOptions({
  queryKey: keys.segmentsAll,
  queryFn: () => call(api.GET("/api/segments")),
});

export function segmentQuery(id: string) {
  return queryOptions({
    queryKey: keys.segment(id),
    queryFn: () =>
      call(api.GET("/api/segments/{segment_id}", { params: { path: { segment_id: id } } })),
  });
}

export function segmentMembersQuery(id: string, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.segmentMembers(id, cursor),
    queryFn: () =>
      call(
        api.GET("/api/segments/{segment_id}/members", {
          params: { path: { segment_id: id }, query: { limit: PAGE_SIZE, cursor } },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

export function segmentGrowthQuery(id: string, days: number) {
  return queryOptions({
    queryKey: keys.segmentGrowth(id, days),
    queryFn: () =>
      call(
        api.GET("/api/segments/{segment_id}/growth", {
          params: { path: { segment_id: id }, query: { days } },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

export const segmentCatalogQuery = queryOptions({
  queryKey: keys.segmentCatalog,
  queryFn: () => call(api.GET("/api/segments/catalog")),
  staleTime: 60_000,
});

export function eventPropertyCatalogQuery(metric: string) {
  return queryOptions({
    queryKey: keys.eventPropertyCatalog(metric),
    queryFn: () =>
      call(api.GET("/api/segments/catalog/event-properties", { params: { query: { metric } } })),
    staleTime: 60_000,
    enabled: metric.length > 0,
  });
}

/** A built-in profile field or a custom property. */
export type ValueSubject = { field: string } | { property: string };

/** Values a field or property has among the newest profiles, most common first. */
export function propertyValuesQuery(subject: ValueSubject, prefix: string) {
  const name = "field" in subject ? `field:${subject.field}` : `property:${subject.property}`;
  return queryOptions({
    queryKey: keys.propertyValues(name, prefix),
    queryFn: () =>
      call(api.GET("/api/profiles/property-values", { params: { query: { ...subject, prefix, limit: 20 } } })),
    staleTime: 60_000,
  });
}

/** The first rows an import could not take, and why. */
export function importErrorRowsQuery(id: string, limit: number) {
  return queryOptions({
    queryKey: keys.importErrorRows(id, limit),
    queryFn: () =>
      call(api.GET("/api/imports/{job_id}/error-rows", { params: { path: { job_id: id }, query: { limit } } })),
  });
}

export function jobQuery(id: string) {
  return queryOptions({
    queryKey: keys.job(id),
    queryFn: () => call(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: id } } })),
  });
}

export function profileSegmentsQuery(id: string) {
  return queryOptions({
    queryKey: keys.profileSegments(id),
    queryFn: () =>
      call(api.GET("/api/profiles/{profile_id}/segments", { params: { path: { profile_id: id } } })),
  });
}

export function profileConsentQuery(id: string) {
  return queryOptions({
    queryKey: keys.profileConsent(id),
    queryFn: () =>
      call(api.GET("/api/profiles/{profile_id}/consent", { params: { path: { profile_id: id } } })),
  });
}

export const templatesQuery = queryOptions({
  queryKey: keys.templatesAll,
  queryFn: () => call(api.GET("/api/templates")),
});

export function templateQuery(id: string) {
  return queryOptions({
    queryKey: keys.template(id),
    queryFn: () => call(api.GET("/api/templates/{template_id}", { params: { path: { template_id: id } } })),
  });
}

/** Profiles matching a search, for pickers (a handful, not a page). */
export function profileSearchQuery(q: string) {
  return queryOptions({
    queryKey: keys.profileSearch(q),
    queryFn: () => call(api.GET("/api/profiles", { params: { query: { q: q || undefined, limit: 10 } } })),
    placeholderData: (previous) => previous,
    staleTime: 30_000,
  });
}

export function outboxQuery(to: string, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.outbox(to, cursor),
    queryFn: () =>
      call(api.GET("/api/outbox", { params: { query: { to: to || undefined, cursor, limit: PAGE_SIZE } } })),
    placeholderData: (previous) => previous,
  });
}

export function outboxMessageQuery(id: string) {
  return queryOptions({
    queryKey: keys.outboxMessage(id),
    queryFn: () => call(api.GET("/api/outbox/{message_id}", { params: { path: { message_id: id } } })),
  });
}

export function messagesQuery(status: "" | MessageStatus, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.messages(status, cursor),
    queryFn: () =>
      call(
        api.GET("/api/messages", {
          params: { query: { status: status || undefined, cursor, limit: PAGE_SIZE } },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

export function messageQuery(id: string) {
  return queryOptions({
    queryKey: keys.message(id),
    queryFn: () => call(api.GET("/api/messages/{message_id}", { params: { path: { message_id: id } } })),
  });
}

export const smsTemplatesQuery = queryOptions({
  queryKey: keys.smsTemplates,
  queryFn: () => call(api.GET("/api/sms/templates")),
});

/** A profile's SMS both ways, newest first. */
export function profileSmsQuery(id: string) {
  return queryOptions({
    queryKey: keys.profileSms(id),
    queryFn: () => call(api.GET("/api/profiles/{profile_id}/sms", { params: { path: { profile_id: id } } })),
  });
}

export const smsSettingsQuery = queryOptions({
  queryKey: keys.smsSettings,
  queryFn: () => call(api.GET("/api/sms/settings")),
});

export const emailSettingsQuery = queryOptions({
  queryKey: keys.emailSettings,
  queryFn: () => call(api.GET("/api/email/settings")),
});

export function suppressionsQuery(filter: SuppressionFilter, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.suppressions(filter, cursor),
    queryFn: () =>
      call(
        api.GET("/api/suppressions", {
          params: {
            query: {
              channel: filter.channel || undefined,
              reason: filter.reason || undefined,
              q: filter.q || undefined,
              cursor,
              limit: PAGE_SIZE,
            },
          },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

export const campaignsQuery = queryOptions({
  queryKey: keys.campaignsAll,
  queryFn: () => call(api.GET("/api/campaigns")),
});

type AudienceRequest = Schemas["AudienceRequest"];

export function fetchAudience(body: AudienceRequest) {
  return call(api.POST("/api/campaigns/audience", { body }));
}

/** Who a campaign with these settings would reach now (the same cache as the editor's count). */
export function campaignAudienceQuery(request: AudienceRequest) {
  return queryOptions({
    queryKey: keys.campaignAudience(JSON.stringify(request)),
    queryFn: () => fetchAudience(request),
    retry: false,
  });
}

export function campaignQuery(id: string) {
  return queryOptions({
    queryKey: keys.campaign(id),
    queryFn: () => call(api.GET("/api/campaigns/{campaign_id}", { params: { path: { campaign_id: id } } })),
  });
}

export function campaignStatsQuery(id: string) {
  return queryOptions({
    queryKey: keys.campaignStats(id),
    queryFn: () => call(api.GET("/api/campaigns/{campaign_id}/stats", { params: { path: { campaign_id: id } } })),
    placeholderData: (previous) => previous,
  });
}

export function campaignRecipientsQuery(id: string, status: string, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.campaignRecipients(id, status, cursor),
    queryFn: () =>
      call(
        api.GET("/api/campaigns/{campaign_id}/recipients", {
          params: { path: { campaign_id: id }, query: { status: status || undefined, cursor, limit: PAGE_SIZE } },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

// --- Imports ---

export function importsQuery(type: "" | ImportType, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.imports(type, cursor),
    queryFn: () =>
      call(api.GET("/api/imports", { params: { query: { kind: type || undefined, cursor, limit: PAGE_SIZE } } })),
    placeholderData: (previous) => previous,
  });
}

// --- Flows ---

/** Flows of one status, or ("") every flow that is not archived. */
export function flowsQuery(status: "" | "draft" | "live" | "paused" | "archived") {
  return queryOptions({
    queryKey: keys.flows(status),
    queryFn: () => call(api.GET("/api/flows", { params: { query: { status: status || undefined } } })),
    placeholderData: (previous) => previous,
  });
}

export function flowQuery(id: string) {
  return queryOptions({
    queryKey: keys.flow(id),
    queryFn: () => call(api.GET("/api/flows/{flow_id}", { params: { path: { flow_id: id } } })),
  });
}

export function flowResultsQuery(id: string) {
  return queryOptions({
    queryKey: keys.flowResults(id),
    queryFn: () => call(api.GET("/api/flows/{flow_id}/results", { params: { path: { flow_id: id } } })),
    placeholderData: (previous) => previous,
  });
}

export function flowEnrolmentsQuery(id: string, status: string, step: string, cursor: string | undefined) {
  return queryOptions({
    queryKey: keys.flowEnrolments(id, status, step, cursor),
    queryFn: () =>
      call(
        api.GET("/api/flows/{flow_id}/enrolments", {
          params: {
            path: { flow_id: id },
            query: {
              status: (status || undefined) as "active" | "waiting" | "completed" | "exited" | "failed" | undefined,
              step_id: step || undefined,
              cursor,
              limit: PAGE_SIZE,
            },
          },
        }),
      ),
    placeholderData: (previous) => previous,
  });
}

export function flowEnrolmentQuery(flowId: string, id: string) {
  return queryOptions({
    queryKey: keys.flowEnrolment(flowId, id),
    queryFn: () =>
      call(
        api.GET("/api/flows/{flow_id}/enrolments/{enrolment_id}", {
          params: { path: { flow_id: flowId, enrolment_id: id } },
        }),
      ),
  });
}

export const flowTemplatesQuery = queryOptions({
  queryKey: keys.flowTemplates,
  queryFn: () => call(api.GET("/api/flow-templates")),
  staleTime: 5 * 60_000,
});

export function profileFlowsQuery(id: string) {
  return queryOptions({
    queryKey: keys.profileFlows(id),
    queryFn: () => call(api.GET("/api/profiles/{profile_id}/flows", { params: { path: { profile_id: id } } })),
  });
}
