import { describe, expect, it } from "vitest";
import type { Template } from "../../api/client";
import {
  DEFAULT_SAMPLE,
  isStarterBody,
  newTemplateValues,
  parseSample,
  previewRequest,
  starterBody,
  toTemplateBody,
  toTemplateValues,
} from "./form";

const TEMPLATE: Template = {
  id: "5e0c4c1e-1111-4c1e-8c1e-5e0c4c1e1111",
  name: "Welcome",
  kind: "transactional",
  subject: "Hi {{ profile.first_name }}",
  preheader: null,
  from_name: "Acme",
  from_email: null,
  reply_to: "help@acme.example",
  body_format: "html",
  body: "<p>Hi</p>",
  compiled_html: "<p>Hi</p>",
  text_body: "Hi",
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
};

describe("template values", () => {
  it("round-trip a saved template", () => {
    const values = toTemplateValues(TEMPLATE);
    expect(values.custom_text).toBe(true);
    expect(toTemplateBody(values)).toEqual({
      name: "Welcome",
      kind: "transactional",
      subject: "Hi {{ profile.first_name }}",
      preheader: null,
      from_name: "Acme",
      from_email: null,
      reply_to: "help@acme.example",
      body_format: "html",
      body: "<p>Hi</p>",
      text_body: "Hi",
    });
  });

  it("send no text part unless it is written by hand", () => {
    const values = { ...toTemplateValues(TEMPLATE), custom_text: false };
    expect(toTemplateBody(values).text_body).toBeNull();
    expect(toTemplateBody({ ...values, custom_text: true, text_body: "  " }).text_body).toBeNull();
  });

  it("start a new marketing template with the footer it needs", () => {
    const values = newTemplateValues();
    expect(values.kind).toBe("marketing");
    expect(values.body).toContain("{{ unsubscribe_url }}");
    expect(values.body).toContain("{{ organization.postal_address }}");
    expect(starterBody("html")).toContain("{{ unsubscribe_url }}");
    expect(isStarterBody(values.body)).toBe(true);
    expect(isStarterBody("<p>mine</p>")).toBe(false);
  });
});

describe("parseSample", () => {
  it("reads the default sample", () => {
    const parsed = parseSample(DEFAULT_SAMPLE);
    expect("sample" in parsed && parsed.sample.profile?.first_name).toBe("Ada");
  });

  it("says what is wrong", () => {
    expect(parseSample("{")).toHaveProperty("error");
    expect(parseSample("[1]")).toEqual({ error: 'Write an object such as {"profile": {"first_name": "Ada"}}.' });
    expect(parseSample('{"person": {}}')).toEqual({ error: 'Unknown key "person": use profile, data and event.' });
    expect(parseSample('{"data": 3}')).toEqual({ error: '"data" must be an object.' });
    expect(parseSample("")).toEqual({ sample: {} });
  });
});

describe("previewRequest", () => {
  const values = toTemplateValues(TEMPLATE);

  it("asks for a profile's preview", () => {
    expect(previewRequest(values, { kind: "profile", profileId: "p1" })).toEqual({
      request: {
        subject: values.subject,
        preheader: null,
        body_format: "html",
        body: "<p>Hi</p>",
        text_body: "Hi",
        profile_id: "p1",
      },
    });
  });

  it("asks for a sample's preview", () => {
    const result = previewRequest(values, { kind: "sample", sample: '{"data": {"coupon": "X"}}' });
    expect(result).toHaveProperty("request.sample", { data: { coupon: "X" } });
  });

  it("gives a reason instead when it cannot ask", () => {
    expect(previewRequest({ ...values, body: " " }, { kind: "sample", sample: "" })).toEqual({
      reason: "Write a body to see the preview.",
    });
    expect(previewRequest(values, { kind: "profile", profileId: null })).toHaveProperty("reason");
    expect(previewRequest(values, { kind: "sample", sample: "{" })).toHaveProperty("reason");
  });
});
