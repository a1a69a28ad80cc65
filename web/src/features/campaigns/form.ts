/** The campaign editor's values, what it saves, the audience it asks the estimate about, and
 * where the API's field errors go (no React). */
import type { ABTest, Campaign, CampaignCreate, ScheduleRequest } from "../../api/client";
import type { ABMetric } from "./status";

export const VARIANT_KEYS = ["A", "B", "C", "D", "E", "F", "G"] as const;
export type VariantKey = (typeof VARIANT_KEYS)[number];
export const MIN_VARIANTS = 2;
export const MAX_VARIANTS = VARIANT_KEYS.length;
export type Fallback = ABTest["fallback"];

export interface VariantValues {
  subject: string;
  template_id: string | null;
  from_name: string;
  /** Minutes after the start; "" is none (the variant goes with the campaign). */
  send_delay_minutes: number | "";
}

export interface ABValues {
  variants: VariantValues[];
  pool_percent: number;
  metric: ABMetric;
  duration_hours: number;
  /** As a percentage (95), the API's 0.95. */
  confidence_percent: number;
  fallback: Fallback;
  default_variant: VariantKey | null;
}

export type Channel = "email" | "sms";

export interface CampaignValues {
  name: string;
  channel: Channel;
  /** An SMS campaign's text (personalized as templates are). */
  sms_body: string;
  include_segment_ids: string[];
  exclude_segment_ids: string[];
  template_id: string | null;
  subject: string;
  from_name: string;
  from_email: string;
  smart_sending: boolean;
  smart_sending_hours: number;
  send_time_optimization: boolean;
  conversion_metric: string;
  ab_enabled: boolean;
  ab: ABValues;
}

export const DEFAULT_CONVERSION_METRIC = "Placed Order";

export function newVariant(): VariantValues {
  return { subject: "", template_id: null, from_name: "", send_delay_minutes: "" };
}

export function newABValues(): ABValues {
  return {
    variants: [newVariant(), newVariant()],
    pool_percent: 20,
    metric: "open_rate",
    duration_hours: 4,
    confidence_percent: 95,
    fallback: "leader",
    default_variant: null,
  };
}

export function newCampaignValues(): CampaignValues {
  return {
    name: "",
    channel: "email",
    sms_body: "",
    include_segment_ids: [],
    exclude_segment_ids: [],
    template_id: null,
    subject: "",
    from_name: "",
    from_email: "",
    smart_sending: true,
    smart_sending_hours: 16,
    send_time_optimization: false,
    conversion_metric: DEFAULT_CONVERSION_METRIC,
    ab_enabled: false,
    ab: newABValues(),
  };
}

function toPercent(fraction: number): number {
  return Math.round(fraction * 1000) / 10;
}

function toFraction(percent: number): number {
  return Number((percent / 100).toFixed(4));
}

export function toCampaignValues(campaign: Campaign): CampaignValues {
  const test = campaign.ab_test;
  return {
    name: campaign.name,
    channel: campaign.channel,
    sms_body: campaign.sms_body ?? "",
    include_segment_ids: [...campaign.include_segment_ids],
    exclude_segment_ids: [...campaign.exclude_segment_ids],
    template_id: campaign.template_id,
    subject: campaign.subject ?? "",
    from_name: campaign.from_name ?? "",
    from_email: campaign.from_email ?? "",
    smart_sending: campaign.smart_sending,
    smart_sending_hours: campaign.smart_sending_hours,
    send_time_optimization: campaign.send_time_optimization,
    conversion_metric: campaign.conversion_metric,
    ab_enabled: test !== null,
    ab: test
      ? {
          variants: test.variants.map((variant) => ({
            subject: variant.subject ?? "",
            template_id: variant.template_id ?? null,
            from_name: variant.from_name ?? "",
            send_delay_minutes: variant.send_delay_minutes ?? "",
          })),
          pool_percent: test.pool_percent,
          metric: test.metric,
          duration_hours: test.duration_hours,
          confidence_percent: toPercent(test.confidence),
          fallback: test.fallback,
          default_variant: test.default_variant ?? null,
        }
      : newABValues(),
  };
}

function orNull(value: string): string | null {
  const trimmed = value.trim();
  return trimmed ? trimmed : null;
}

/** A subject is kept as written (spaces and all) unless it is blank. */
function subjectOrNull(value: string): string | null {
  return value.trim() ? value : null;
}

function toABTest(ab: ABValues): ABTest {
  return {
    variants: ab.variants.map((variant) => {
      // Only what the variant changes: a field left out is the campaign's.
      const out: ABTest["variants"][number] = {};
      const subject = subjectOrNull(variant.subject);
      if (subject !== null) out.subject = subject;
      if (variant.template_id) out.template_id = variant.template_id;
      const fromName = orNull(variant.from_name);
      if (fromName !== null) out.from_name = fromName;
      if (variant.send_delay_minutes !== "") out.send_delay_minutes = variant.send_delay_minutes;
      return out;
    }),
    pool_percent: ab.pool_percent,
    metric: ab.metric,
    duration_hours: ab.duration_hours,
    confidence: toFraction(ab.confidence_percent),
    fallback: ab.fallback,
    default_variant: ab.fallback === "default" ? ab.default_variant : null,
  };
}

/** What a create sends, and (every field, so blanks clear overrides) what an update sends. */
export function toCampaignBody(values: CampaignValues): CampaignCreate {
  const sms = values.channel === "sms";
  return {
    name: values.name.trim(),
    channel: values.channel,
    sms_body: sms && values.sms_body.trim() ? values.sms_body : null,
    template_id: sms ? null : values.template_id,
    subject: subjectOrNull(values.subject),
    from_name: orNull(values.from_name),
    from_email: orNull(values.from_email),
    include_segment_ids: values.include_segment_ids,
    exclude_segment_ids: values.exclude_segment_ids,
    smart_sending: values.smart_sending,
    smart_sending_hours: values.smart_sending_hours,
    send_time_optimization: values.send_time_optimization,
    conversion_metric: values.conversion_metric.trim() || DEFAULT_CONVERSION_METRIC,
    ab_test: values.ab_enabled ? toABTest(values.ab) : null,
  };
}

export function variantKey(index: number): VariantKey {
  return VARIANT_KEYS[index] ?? "G";
}

/** What a variant changes, in a few words ("subject, template"), or that it changes nothing. */
export function variantChanges(variant: VariantValues): string[] {
  const changes: string[] = [];
  if (variant.subject.trim()) changes.push("subject");
  if (variant.template_id) changes.push("template");
  if (variant.from_name.trim()) changes.push("from name");
  if (variant.send_delay_minutes !== "") changes.push("send time");
  return changes;
}

export function hasSendTimeVariant(values: CampaignValues): boolean {
  return values.ab_enabled && values.ab.variants.some((v) => v.send_delay_minutes !== "");
}

/** The variants without the one at `index`; a default that named a variant follows it. */
export function removeVariant(ab: ABValues, index: number): ABValues {
  const variants = ab.variants.filter((_, i) => i !== index);
  const defaultIndex = ab.default_variant === null ? -1 : VARIANT_KEYS.indexOf(ab.default_variant);
  const default_variant =
    defaultIndex === index || defaultIndex < 0 ? null : variantKey(defaultIndex > index ? defaultIndex - 1 : defaultIndex);
  return { ...ab, variants, default_variant };
}

/** What the form checks before saving (form paths to reasons); the API checks the rest. */
export function checkCampaign(values: CampaignValues): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!values.name.trim()) errors.name = "Give the campaign a name.";
  const both = values.include_segment_ids.filter((id) => values.exclude_segment_ids.includes(id));
  if (both.length) errors.exclude_segment_ids = "A segment cannot be both included and excluded.";
  if (values.send_time_optimization && hasSendTimeVariant(values)) {
    errors.send_time_optimization = "An A/B test of send times and send-time optimization exclude each other.";
  }
  if (values.ab_enabled) {
    const { variants } = values.ab;
    if (variants.length < MIN_VARIANTS || variants.length > MAX_VARIANTS) {
      errors["ab.variants"] = `An A/B test has ${MIN_VARIANTS} to ${MAX_VARIANTS} variants.`;
    }
    // One variant may change nothing (the campaign as it is); a second would be the same email.
    const unchanged = variants.map((variant, index) => (variantChanges(variant).length === 0 ? index : -1)).filter((i) => i >= 0);
    for (const index of unchanged.slice(1)) {
      errors[`ab.variants.${index}.subject`] = `Variant ${variantKey(index)} is the same as variant ${variantKey(unchanged[0] ?? 0)}: change its subject, template, sender or send time.`;
    }
    if (values.ab.fallback === "default" && values.ab.default_variant === null) {
      errors["ab.default_variant"] = "Choose the variant to send without a clear winner.";
    }
  }
  return errors;
}

/** Every form path that shows its own errors. */
const FIELD_NAMES = [
  "name",
  "sms_body",
  "include_segment_ids",
  "exclude_segment_ids",
  "template_id",
  "subject",
  "from_name",
  "from_email",
  "smart_sending",
  "smart_sending_hours",
  "send_time_optimization",
  "conversion_metric",
] as const;
const AB_FIELDS = ["pool_percent", "metric", "duration_hours", "fallback", "default_variant"] as const;
const VARIANT_FIELDS = ["subject", "template_id", "from_name", "send_delay_minutes"] as const;

export const ERROR_FIELDS: readonly string[] = [
  ...FIELD_NAMES,
  "ab.variants",
  "ab.confidence_percent",
  ...AB_FIELDS.map((f) => `ab.${f}`),
  ...VARIANT_KEYS.flatMap((_, i) => VARIANT_FIELDS.map((f) => `ab.variants.${i}.${f}`)),
];

/** The API's names for the form's paths where they differ: `ab_test.variants[1].subject`. */
export const ERROR_ALIASES: Readonly<Record<string, string>> = {
  // The A/B test's own check (fallback "default" without a default variant) is about the test.
  ab_test: "ab.default_variant",
  "ab_test.variants": "ab.variants",
  "ab_test.confidence": "ab.confidence_percent",
  ...Object.fromEntries(AB_FIELDS.map((f) => [`ab_test.${f}`, `ab.${f}`])),
  ...Object.fromEntries(
    VARIANT_KEYS.flatMap((_, i) => [
      [`ab_test.variants[${i}]`, `ab.variants.${i}.subject`],
      ...VARIANT_FIELDS.map((f) => [`ab_test.variants[${i}].${f}`, `ab.variants.${i}.${f}`]),
    ]),
  ),
};

/** When to send: one moment (in the browser's time zone), or a wall-clock time in each recipient's. */
export interface ScheduleValues {
  /** As an <input type="datetime-local"> gives it: "2027-03-01T09:00". */
  when: string;
  local: boolean;
  grace_minutes: number;
}

/** The schedule request, or the reason it cannot be made yet. */
export function scheduleRequest(values: ScheduleValues): { request: ScheduleRequest } | { error: string } {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(values.when)) return { error: "Choose a date and a time." };
  const wallClock = values.when.length === 16 ? `${values.when}:00` : values.when;
  if (values.local) return { request: { local_at: wallClock, grace_minutes: values.grace_minutes } };
  const moment = new Date(wallClock);
  if (Number.isNaN(moment.getTime())) return { error: "Choose a date and a time." };
  return { request: { at: moment.toISOString(), grace_minutes: values.grace_minutes } };
}

/** The datetime-local value `minutes` from `now`, in the browser's time zone, to the minute. */
export function localInputValue(now: Date, minutes = 60): string {
  const then = new Date(now.getTime() + minutes * 60_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${then.getFullYear()}-${pad(then.getMonth() + 1)}-${pad(then.getDate())}T${pad(then.getHours())}:${pad(then.getMinutes())}`;
}

/** What the preview shows for the campaign, or for one variant: the template, and the subject
 * that replaces the template's (a variant's own, else the campaign's; null: the template's). */
export function previewContent(values: CampaignValues, variantIndex: number | null): { templateId: string | null; subject: string | null } {
  const variant = variantIndex === null || !values.ab_enabled ? null : (values.ab.variants[variantIndex] ?? null);
  return {
    templateId: variant?.template_id || values.template_id,
    subject: subjectOrNull(variant?.subject ?? "") ?? subjectOrNull(values.subject),
  };
}
