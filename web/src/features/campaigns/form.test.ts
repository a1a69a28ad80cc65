import { describe, expect, it } from "vitest";
import type { Campaign } from "../../api/client";
import { mapFieldErrors, ApiError } from "../../api/errors";
import {
  checkCampaign,
  ERROR_ALIASES,
  ERROR_FIELDS,
  localInputValue,
  newCampaignValues,
  newVariant,
  previewContent,
  removeVariant,
  scheduleRequest,
  toCampaignBody,
  toCampaignValues,
  type CampaignValues,
} from "./form";

const SEGMENT = "11111111-1111-4111-8111-111111111111";
const OTHER = "22222222-2222-4222-8222-222222222222";
const TEMPLATE = "33333333-3333-4333-8333-333333333333";
const TEMPLATE_B = "44444444-4444-4444-8444-444444444444";

const CAMPAIGN: Campaign = {
  id: "55555555-5555-4555-8555-555555555555",
  name: "Spring sale",
  channel: "email",
  template_id: TEMPLATE,
  sms_body: null,
  media_urls: [],
  subject: "Spring is here",
  from_name: null,
  from_email: "deals@acme.example",
  include_segment_ids: [SEGMENT],
  exclude_segment_ids: [OTHER],
  smart_sending: true,
  smart_sending_hours: 24,
  ab_test: {
    variants: [
      { key: "A", subject: "Spring is here" },
      { key: "B", template_id: TEMPLATE_B, from_name: "Ada at Acme", send_delay_minutes: 30 },
    ],
    pool_percent: 30,
    metric: "click_rate",
    duration_hours: 6,
    confidence: 0.99,
    fallback: "default",
    default_variant: "B",
  },
  ab_result: null,
  ab_decide_at: null,
  send_time_optimization: false,
  conversion_metric: "Placed Order",
  status: "draft",
  scheduled_at: null,
  local_send_at: null,
  local_grace_minutes: null,
  started_at: null,
  audience_at: null,
  finished_at: null,
  counts: {},
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

describe("an SMS campaign", () => {
  it("sends its text and no template, and reads back its channel", () => {
    const values = { ...newCampaignValues(), name: "Tea", channel: "sms" as const, sms_body: "Hi {{ profile.first_name }}", template_id: TEMPLATE };
    const body = toCampaignBody(values);
    expect(body).toMatchObject({ channel: "sms", sms_body: "Hi {{ profile.first_name }}", template_id: null });
    const back = toCampaignValues({ ...CAMPAIGN, channel: "sms", sms_body: "Hi", template_id: null });
    expect(back).toMatchObject({ channel: "sms", sms_body: "Hi" });
  });
});

describe("campaign values", () => {
  it("round-trip a saved campaign, A/B test included", () => {
    const values = toCampaignValues(CAMPAIGN);
    expect(values.ab_enabled).toBe(true);
    expect(values.ab.confidence_percent).toBe(99);
    expect(values.ab.variants[1]).toEqual({ subject: "", template_id: TEMPLATE_B, from_name: "Ada at Acme", send_delay_minutes: 30 });
    expect(toCampaignBody(values)).toEqual({
      name: "Spring sale",
      channel: "email",
      sms_body: null,
      template_id: TEMPLATE,
      subject: "Spring is here",
      from_name: null,
      from_email: "deals@acme.example",
      include_segment_ids: [SEGMENT],
      exclude_segment_ids: [OTHER],
      smart_sending: true,
      smart_sending_hours: 24,
      send_time_optimization: false,
      conversion_metric: "Placed Order",
      ab_test: {
        // Only what each variant changes; the keys are Herald's to give.
        variants: [{ subject: "Spring is here" }, { template_id: TEMPLATE_B, from_name: "Ada at Acme", send_delay_minutes: 30 }],
        pool_percent: 30,
        metric: "click_rate",
        duration_hours: 6,
        confidence: 0.99,
        fallback: "default",
        default_variant: "B",
      },
    });
  });

  it("send blanks as null (the template's), no A/B test when it is off, and keep odd confidences exact", () => {
    const values: CampaignValues = {
      ...newCampaignValues(),
      name: "  Hello  ",
      subject: "   ",
      from_name: " Acme ",
      conversion_metric: " ",
    };
    const body = toCampaignBody(values);
    expect(body).toMatchObject({ name: "Hello", subject: null, from_name: "Acme", from_email: null, ab_test: null });
    expect(body.conversion_metric).toBe("Placed Order");
    const ab = { ...values.ab, confidence_percent: 99.9, fallback: "leader" as const, default_variant: "A" as const };
    const test = toCampaignBody({ ...values, ab_enabled: true, ab })["ab_test"];
    expect(test?.confidence).toBe(0.999);
    expect(test?.default_variant).toBeNull();
    expect(toCampaignValues({ ...CAMPAIGN, ab_test: { ...CAMPAIGN.ab_test!, confidence: 0.999 } }).ab.confidence_percent).toBe(99.9);
  });

  it("start a new campaign with Herald's defaults", () => {
    const values = newCampaignValues();
    expect(values).toMatchObject({ smart_sending: true, smart_sending_hours: 16, conversion_metric: "Placed Order", ab_enabled: false });
    expect(values.ab).toMatchObject({ pool_percent: 20, metric: "open_rate", duration_hours: 4, confidence_percent: 95 });
    expect(values.ab.variants).toHaveLength(2);
  });
});

describe("checkCampaign", () => {
  it("asks for a name and refuses a segment both in and out", () => {
    expect(checkCampaign({ ...newCampaignValues(), include_segment_ids: [SEGMENT], exclude_segment_ids: [SEGMENT] })).toEqual({
      name: "Give the campaign a name.",
      exclude_segment_ids: "A segment cannot be both included and excluded.",
    });
  });

  it("allows one unchanged variant, names a second, and wants a default for that fallback", () => {
    const values = { ...newCampaignValues(), name: "x", ab_enabled: true };
    values.ab = { ...values.ab, variants: [newVariant(), { ...newVariant(), subject: "Hi" }, newVariant()], fallback: "default" };
    expect(checkCampaign(values)).toEqual({
      "ab.variants.2.subject": "Variant C is the same as variant A: change its subject, template, sender or send time.",
      "ab.default_variant": "Choose the variant to send without a clear winner.",
    });
  });

  it("refuses send-time optimization with a send-time variant", () => {
    const values = { ...newCampaignValues(), name: "x", ab_enabled: true, send_time_optimization: true };
    values.ab = { ...values.ab, variants: [newVariant(), { ...newVariant(), send_delay_minutes: 60 }] };
    expect(Object.keys(checkCampaign(values))).toEqual(["send_time_optimization"]);
  });
});

describe("removeVariant", () => {
  it("keeps the default on the same variant as the keys shift", () => {
    const ab = { ...newCampaignValues().ab, variants: [newVariant(), newVariant(), newVariant()], default_variant: "C" as const };
    expect(removeVariant(ab, 0).default_variant).toBe("B");
    expect(removeVariant(ab, 2).default_variant).toBeNull();
    expect(removeVariant({ ...ab, default_variant: "A" }, 1).default_variant).toBe("A");
    expect(removeVariant(ab, 1).variants).toHaveLength(2);
  });
});

describe("API errors", () => {
  it("land on the fields they name, variants included", () => {
    const error = new ApiError(422, "invalid", "invalid", [
      { field: "ab_test.variants[1].template_id", reason: "no such template" },
      { field: "ab_test", reason: "default_variant: with fallback 'default', name one of A, B" },
      { field: "include_segment_ids", reason: "no such segment: x" },
      { field: "ab_test.confidence", reason: "Input should be less than or equal to 0.999" },
      { field: "channel", reason: "unexpected" },
    ]);
    expect(mapFieldErrors(error, ERROR_FIELDS, ERROR_ALIASES)).toEqual({
      byField: {
        "ab.variants.1.template_id": "No such template.",
        "ab.default_variant": "Default_variant: with fallback 'default', name one of A, B.",
        include_segment_ids: "No such segment: x.",
        "ab.confidence_percent": "Input should be less than or equal to 0.999.",
      },
      other: ["channel: Unexpected."],
    });
  });
});


describe("scheduleRequest", () => {
  it("sends one moment with its offset, or a wall-clock time for local sending", () => {
    const at = scheduleRequest({ when: "2027-03-01T09:00", local: false, grace_minutes: 60 });
    expect(at).toEqual({ request: { at: new Date("2027-03-01T09:00:00").toISOString(), grace_minutes: 60 } });
    expect(scheduleRequest({ when: "2027-03-01T09:00", local: true, grace_minutes: 30 })).toEqual({
      request: { local_at: "2027-03-01T09:00:00", grace_minutes: 30 },
    });
    expect(scheduleRequest({ when: "", local: false, grace_minutes: 60 })).toEqual({ error: "Choose a date and a time." });
  });

  it("starts the picker an hour ahead, in the browser's time", () => {
    expect(localInputValue(new Date(2027, 2, 1, 8, 5), 60)).toBe("2027-03-01T09:05");
  });
});

describe("previewContent", () => {
  it("shows a variant's own template and subject, else the campaign's", () => {
    const values = toCampaignValues(CAMPAIGN);
    expect(previewContent(values, null)).toEqual({ templateId: TEMPLATE, subject: "Spring is here" });
    expect(previewContent(values, 1)).toEqual({ templateId: TEMPLATE_B, subject: "Spring is here" });
    expect(previewContent({ ...values, subject: "" }, 1)).toEqual({ templateId: TEMPLATE_B, subject: null });
    expect(previewContent({ ...values, ab_enabled: false }, 1)).toEqual({ templateId: TEMPLATE, subject: "Spring is here" });
  });
});
