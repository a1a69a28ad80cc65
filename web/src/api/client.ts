/** The one way the dashboard talks to Herald: a client typed from web/openapi.json
 * (regenerate with `make api-client`), sending the session cookie and the CSRF header. */
import createClient, { type Middleware } from "openapi-fetch";
import { CSRF_HEADER, currentCsrfToken, needsCsrf } from "./csrf";
import { networkError, toApiError } from "./errors";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Me = Schemas["Me"];
export type Organization = Schemas["Organization"];
export type User = Schemas["User"];
export type Role = User["role"];
export type ApiKey = Schemas["ApiKey"];
export type ApiKeyCreated = Schemas["ApiKeyCreated"];
export type Profile = Schemas["Profile"];
export type TimelineEntry = Schemas["TimelineEntry"];
export type ProfileConsent = Schemas["ProfileConsent"];
export type SmsSettings = Schemas["SmsSettings"];
export type SmsSettingsUpdate = Schemas["SmsSettingsUpdate"];
export type SmsTemplate = Schemas["SmsTemplate"];
export type ConversationEntry = Schemas["ConversationEntry"];
export type ChannelConsent = Schemas["ChannelConsent"];
export type MessageEngagement = Schemas["MessageEngagement"];
export type Metric = Schemas["Metric"];
export type HeraldEvent = Schemas["Event"];
export type Segment = Schemas["Segment"];
export type SegmentCatalog = Schemas["Catalog"];
export type GrowthPoint = Schemas["GrowthPoint"];
export type Job = Schemas["JobOut"];
export type TemplateSummary = Schemas["TemplateSummary"];
export type Template = Schemas["Template"];
export type TemplatePreview = Schemas["TemplatePreview"];
export type TemplateCreate = Schemas["TemplateCreate"];
export type Message = Schemas["Message"];
export type MessageStatus = Message["status"];
export type MessageDetail = Schemas["MessageDetail"];
export type MessageEvent = Schemas["MessageEvent"];
export type OutboxEntry = Schemas["OutboxEntry"];
export type OutboxMessage = Schemas["OutboxMessage"];
// By operation (the flow email step's model was once of the same name).
export type EmailSettings =
  paths["/api/email/settings"]["get"]["responses"][200]["content"]["application/json"];
export type EmailSettingsUpdate = Schemas["EmailSettingsUpdate"];
export type Suppression = Schemas["Suppression"];
export type SuppressionReason = Suppression["reason"];
export type SuppressionChannel = Suppression["channel"];
export type SuppressionBulkResult = Schemas["SuppressionBulkResult"];
export type Campaign = Schemas["Campaign"];
export type CampaignStatus = Campaign["status"];
export type CampaignCreate = Schemas["CampaignCreate"];
export type CampaignStats = Schemas["CampaignStats"];
export type VariantFigures = Schemas["VariantFigures"];
/** The figures the stats give for the whole campaign and for each A/B variant. */
export type CampaignFigures = Omit<VariantFigures, "variant">;
export type CampaignRecipient = Schemas["RecipientList"]["data"][number];
export type ABTest = Schemas["ABTest"];
export type ABResult = Schemas["ABResult"];
export type Import = Schemas["Import"];
export type ImportStatus = Import["status"];
export type ImportType = Import["type"];
export type ScheduleRequest = Schemas["ScheduleRequest"];

const csrf: Middleware = {
  onRequest({ request }) {
    if (needsCsrf(request.method)) {
      const token = currentCsrfToken();
      if (token) request.headers.set(CSRF_HEADER, token);
    }
    return request;
  },
};

// Same origin: FastAPI serves the dashboard and the API together (`npm run dev` proxies the API).
export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "",
  credentials: "same-origin",
  // Looked up on each call (not once), so tests can stand in for the network.
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(csrf);

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The response's data, or an ApiError with Herald's code, message and field errors. */
export async function call<T>(request: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await request;
  } catch (error) {
    if (error instanceof TypeError) throw networkError();
    throw error;
  }
  if (!result.response.ok) {
    throw toApiError(result.response.status, result.error);
  }
  return result.data as T;
}
