/** The template editor's values, what it saves and what it asks the preview for. */
import type { Schemas, Template, TemplateCreate } from "../../api/client";
import { isJsonObject, parseJson } from "../../lib/json";

export type Kind = Template["kind"];
export type BodyFormat = Template["body_format"];
export type PreviewRequest = Schemas["TemplatePreviewRequest"];

export interface TemplateValues {
  name: string;
  kind: Kind;
  subject: string;
  preheader: string;
  from_name: string;
  from_email: string;
  reply_to: string;
  body_format: BodyFormat;
  body: string;
  /** Write the plain-text part by hand; otherwise Herald makes it from the HTML. */
  custom_text: boolean;
  text_body: string;
}

/** The footer every marketing email needs (Herald refuses a marketing template without it). */
const MJML_STARTER = `<mjml>
  <mj-head>
    <mj-preview>{{ profile.first_name | default("Hello") }}, here is what is new</mj-preview>
  </mj-head>
  <mj-body background-color="#f4f5f7">
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text font-size="20px" font-weight="bold">Hi {{ profile.first_name | default("there") }},</mj-text>
        <mj-text>Write your message here.</mj-text>
        <mj-button href="https://example.com">Call to action</mj-button>
      </mj-column>
    </mj-section>
    <mj-section padding="16px">
      <mj-column>
        <mj-text font-size="12px" color="#868e96" align="center">
          {{ organization.name }}, {{ organization.postal_address }}<br>
          <a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a>
        </mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

const HTML_STARTER = `<!doctype html>
<html>
  <body style="font-family: sans-serif">
    <p>Hi {{ profile.first_name | default("there") }},</p>
    <p>Write your message here.</p>
    <p style="font-size: 12px; color: #868e96">
      {{ organization.name }}, {{ organization.postal_address }}<br>
      <a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a>
    </p>
  </body>
</html>
`;

export function starterBody(format: BodyFormat): string {
  return format === "mjml" ? MJML_STARTER : HTML_STARTER;
}

export function isStarterBody(body: string): boolean {
  return body === MJML_STARTER || body === HTML_STARTER || body.trim() === "";
}

export function newTemplateValues(): TemplateValues {
  return {
    name: "",
    kind: "marketing",
    subject: "",
    preheader: "",
    from_name: "",
    from_email: "",
    reply_to: "",
    body_format: "mjml",
    body: MJML_STARTER,
    custom_text: false,
    text_body: "",
  };
}

export function toTemplateValues(template: Template): TemplateValues {
  return {
    name: template.name,
    kind: template.kind,
    subject: template.subject,
    preheader: template.preheader ?? "",
    from_name: template.from_name ?? "",
    from_email: template.from_email ?? "",
    reply_to: template.reply_to ?? "",
    body_format: template.body_format,
    body: template.body,
    custom_text: template.text_body !== null,
    text_body: template.text_body ?? "",
  };
}

function orNull(value: string): string | null {
  const trimmed = value.trim();
  return trimmed ? trimmed : null;
}

/** The body of a create (or a whole-template update): optional fields left blank are null. */
export function toTemplateBody(values: TemplateValues): TemplateCreate {
  return {
    name: values.name.trim(),
    kind: values.kind,
    subject: values.subject,
    preheader: values.preheader.trim() ? values.preheader : null,
    from_name: orNull(values.from_name),
    from_email: orNull(values.from_email),
    reply_to: orNull(values.reply_to),
    body_format: values.body_format,
    body: values.body,
    text_body: values.custom_text && values.text_body.trim() ? values.text_body : null,
  };
}

/** Who the preview is rendered for. */
export type PreviewSource = { kind: "sample"; sample: string } | { kind: "profile"; profileId: string | null };

export const DEFAULT_SAMPLE = `{
  "profile": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "properties": {}},
  "data": {},
  "event": {}
}
`;

type Sample = NonNullable<PreviewRequest["sample"]>;

/** The sample data as typed, or why it cannot be used. */
export function parseSample(text: string): { sample: Sample } | { error: string } {
  if (!text.trim()) return { sample: {} };
  const parsed = parseJson(text);
  if ("error" in parsed) return { error: `Not valid JSON: ${parsed.error}` };
  if (!isJsonObject(parsed.value)) {
    return { error: 'Write an object such as {"profile": {"first_name": "Ada"}}.' };
  }
  const sample: Sample = {};
  for (const [key, value] of Object.entries(parsed.value)) {
    if (key !== "profile" && key !== "data" && key !== "event") {
      return { error: `Unknown key "${key}": use profile, data and event.` };
    }
    if (!isJsonObject(value)) return { error: `"${key}" must be an object.` };
    sample[key] = value;
  }
  return { sample };
}

/** The preview request for these values, or null with the reason when there is nothing to ask. */
export function previewRequest(
  values: TemplateValues,
  source: PreviewSource,
): { request: PreviewRequest } | { reason: string } {
  if (!values.body.trim()) return { reason: "Write a body to see the preview." };
  const request: PreviewRequest = {
    subject: values.subject,
    preheader: values.preheader.trim() ? values.preheader : null,
    body_format: values.body_format,
    body: values.body,
    text_body: values.custom_text && values.text_body.trim() ? values.text_body : null,
  };
  if (source.kind === "profile") {
    if (!source.profileId) return { reason: "Choose a profile to preview the email as." };
    request.profile_id = source.profileId;
  } else {
    const parsed = parseSample(source.sample);
    if ("error" in parsed) return { reason: `Sample data: ${parsed.error}` };
    request.sample = parsed.sample;
  }
  return { request };
}
