/** The email settings form: what it starts from and what it sends. `PUT /api/email/settings`
 * replaces the whole setup, except that secrets left out are kept. */
import type { EmailSettings, EmailSettingsUpdate } from "../../api/client";

export type Security = "starttls" | "ssl" | "none";

export interface EmailSettingsValues {
  provider: "outbox" | "smtp";
  smtp_host: string;
  smtp_port: number | string;
  smtp_security: Security;
  smtp_username: string;
  /** Write-only: blank keeps the stored password. */
  smtp_password: string;
  smtp_verify_certificate: boolean;
  default_from_name: string;
  default_from_email: string;
  default_reply_to: string;
  postal_address: string;
  dkim_domain: string;
  dkim_selector: string;
  /** Write-only: blank keeps the stored key. */
  dkim_private_key: string;
  /** Stop signing: the key, domain and selector all go. */
  dkim_remove: boolean;
}

/** The API's field names, as the form's. */
export const FIELD_ALIASES: Readonly<Record<string, string>> = {
  smtp: "smtp_host",
  "smtp.host": "smtp_host",
  "smtp.port": "smtp_port",
  "smtp.security": "smtp_security",
  "smtp.username": "smtp_username",
  "smtp.password": "smtp_password",
  "smtp.verify_certificate": "smtp_verify_certificate",
};

export const FORM_FIELDS: readonly string[] = [
  "provider",
  "smtp_host",
  "smtp_port",
  "smtp_security",
  "smtp_username",
  "smtp_password",
  "smtp_verify_certificate",
  "default_from_name",
  "default_from_email",
  "default_reply_to",
  "postal_address",
  "dkim_domain",
  "dkim_selector",
  "dkim_private_key",
];

export const DEFAULT_PORTS: Readonly<Record<Security, number>> = { starttls: 587, ssl: 465, none: 25 };

export function toFormValues(settings: EmailSettings): EmailSettingsValues {
  return {
    provider: settings.provider,
    smtp_host: settings.smtp?.host ?? "",
    smtp_port: settings.smtp?.port ?? 587,
    smtp_security: settings.smtp?.security ?? "starttls",
    smtp_username: settings.smtp?.username ?? "",
    smtp_password: "",
    smtp_verify_certificate: settings.smtp?.verify_certificate ?? true,
    default_from_name: settings.default_from_name ?? "",
    default_from_email: settings.default_from_email ?? "",
    default_reply_to: settings.default_reply_to ?? "",
    postal_address: settings.postal_address ?? "",
    dkim_domain: settings.dkim_domain ?? "",
    dkim_selector: settings.dkim_selector ?? "",
    dkim_private_key: "",
    dkim_remove: false,
  };
}

function orNull(value: string): string | null {
  const trimmed = value.trim();
  return trimmed ? trimmed : null;
}

/**
 * The body to PUT. The SMTP block goes only when a host is given (left out, Herald keeps the
 * stored one), with the settings this form does not show carried over from `stored`. A blank
 * password or key is left out, so Herald keeps the stored one.
 */
export function toSettingsUpdate(values: EmailSettingsValues, stored: EmailSettings | null): EmailSettingsUpdate {
  const body: EmailSettingsUpdate = {
    provider: values.provider,
    default_from_name: orNull(values.default_from_name),
    default_from_email: orNull(values.default_from_email),
    default_reply_to: orNull(values.default_reply_to),
    postal_address: orNull(values.postal_address),
    dkim_domain: values.dkim_remove ? null : orNull(values.dkim_domain),
    dkim_selector: values.dkim_remove ? null : orNull(values.dkim_selector),
  };
  if (values.dkim_remove) body.dkim_private_key = null;
  else if (values.dkim_private_key.trim()) body.dkim_private_key = values.dkim_private_key.trim() + "\n";
  const host = values.smtp_host.trim();
  if (host) {
    const previous = stored?.smtp ?? null;
    body.smtp = {
      host,
      port: Number(values.smtp_port),
      security: values.smtp_security,
      username: orNull(values.smtp_username),
      timeout: previous?.timeout ?? 30,
      verify_certificate: values.smtp_verify_certificate,
      ca_certificate: previous?.ca_certificate ?? null,
      helo_hostname: previous?.helo_hostname ?? null,
    };
    if (values.smtp_password) body.smtp.password = values.smtp_password;
  }
  return body;
}

/** What the form checks before sending. */
export function validateSettings(values: EmailSettingsValues): Partial<Record<keyof EmailSettingsValues, string>> {
  const errors: Partial<Record<keyof EmailSettingsValues, string>> = {};
  if (values.provider === "smtp" && !values.smtp_host.trim()) {
    errors.smtp_host = "Enter the SMTP server's host name, for example smtp.example.com";
  }
  const port = Number(values.smtp_port);
  if (values.smtp_host.trim() && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    errors.smtp_port = "A port from 1 to 65535";
  }
  for (const name of ["default_from_email", "default_reply_to"] as const) {
    const value = values[name].trim();
    if (value && !/^[^\s@]+@[^\s@]+$/.test(value)) errors[name] = "Not an email address";
  }
  const key = values.dkim_private_key.trim();
  if (key && !/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    errors.dkim_private_key = "Paste the PEM key, starting with -----BEGIN PRIVATE KEY----- (or RSA PRIVATE KEY)";
  }
  return errors;
}
