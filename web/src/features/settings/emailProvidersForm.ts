/** The "add a provider" form: which settings each kind takes, and the request it becomes. */
import type { Schemas } from "../../api/client";

export type Kind = Schemas["ProviderCreate"]["kind"];

export const KIND_LABELS: Record<Kind, string> = {
  postmark: "Postmark",
  sendgrid: "SendGrid",
  ses: "Amazon SES",
  smtp: "SMTP",
  outbox: "Outbox (nothing leaves this machine)",
};

export interface ConfigField {
  name: string;
  label: string;
  secret?: boolean;
  placeholder?: string;
  help?: string;
  number?: boolean;
  list?: boolean;
}

const KIND_FIELDS: Record<Kind, ConfigField[]> = {
  postmark: [
    { name: "server_token", label: "Server API token", secret: true },
    { name: "message_stream", label: "Message stream", placeholder: "outbound", help: "A broadcast stream for marketing" },
    { name: "webhook_username", label: "Webhook user name", help: "Put it in the webhook URL" },
    { name: "webhook_password", label: "Webhook password", secret: true },
    { name: "dkim_selector", label: "DKIM selector", placeholder: "20240101000000pm", help: "From Sender Signatures → DNS settings, for the DNS check" },
  ],
  sendgrid: [
    { name: "api_key", label: "API key", secret: true },
    { name: "webhook_public_key", label: "Event webhook verification key", help: "From Mail Settings → Signed Event Webhook" },
  ],
  ses: [
    { name: "region", label: "Region", placeholder: "eu-west-1" },
    { name: "access_key_id", label: "Access key id" },
    { name: "secret_access_key", label: "Secret access key", secret: true },
    { name: "configuration_set", label: "Configuration set", help: "Its event destination posts bounces to SNS" },
    { name: "sns_topic_arns", label: "SNS topic ARN", list: true, help: "The topic whose notifications Herald accepts" },
    { name: "dkim_tokens", label: "Easy DKIM tokens", list: true, help: "The three tokens of the domain's DKIM CNAMEs, for the DNS check" },
  ],
  smtp: [
    { name: "host", label: "Host", placeholder: "smtp.example.com" },
    { name: "port", label: "Port", placeholder: "587", number: true },
    { name: "username", label: "Username" },
    { name: "password", label: "Password", secret: true },
  ],
  outbox: [],
};

export const CONFIG_FIELDS: Record<Kind, ConfigField[]> & { all: ConfigField[] } = Object.assign({ ...KIND_FIELDS }, {
  all: Object.values(KIND_FIELDS).flat(),
});

export interface ProviderFormValues {
  kind: Kind;
  label: string;
  per_second: number | "";
  per_day: number | "";
  config: Record<string, string>;
}

/** Blank settings are left out (so the server's defaults apply); numbers and lists are typed. */
export function toProviderCreate(values: ProviderFormValues): Schemas["ProviderCreate"] {
  const config: Record<string, unknown> = {};
  for (const field of KIND_FIELDS[values.kind]) {
    const raw = (values.config[field.name] ?? "").trim();
    if (!raw) continue;
    config[field.name] = field.number ? Number(raw) : field.list ? raw.split(/[\s,]+/).filter(Boolean) : raw;
  }
  return {
    kind: values.kind,
    label: values.label.trim(),
    enabled: true,
    per_second: values.per_second === "" ? null : values.per_second,
    per_day: values.per_day === "" ? null : values.per_day,
    config,
  };
}
