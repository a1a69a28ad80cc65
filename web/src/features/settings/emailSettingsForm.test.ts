import { describe, expect, it } from "vitest";
import type { EmailSettings } from "../../api/client";
import { toFormValues, toSettingsUpdate, validateSettings } from "./emailSettingsForm";

const STORED: EmailSettings = {
  provider: "smtp",
  smtp: {
    host: "smtp.example.com",
    port: 465,
    security: "ssl",
    username: "herald",
    password_set: true,
    timeout: 12,
    verify_certificate: true,
    ca_certificate: "-----BEGIN CERTIFICATE-----",
    helo_hostname: "mx.example.com",
  },
  default_from_name: "Acme",
  default_from_email: "hello@acme.example",
  default_reply_to: null,
  postal_address: "1 Main St",
  dkim_domain: "acme.example",
  dkim_selector: "herald1",
  dkim_key_set: true,
  dkim_record: { name: "herald1._domainkey.acme.example", type: "TXT", value: "v=DKIM1; k=rsa; p=AAA" },
  updated_at: "2025-01-01T00:00:00Z",
};

describe("toSettingsUpdate", () => {
  it("sends what was stored unchanged, leaving the secrets out so Herald keeps them", () => {
    const body = toSettingsUpdate(toFormValues(STORED), STORED);
    expect(body).toEqual({
      provider: "smtp",
      default_from_name: "Acme",
      default_from_email: "hello@acme.example",
      default_reply_to: null,
      postal_address: "1 Main St",
      dkim_domain: "acme.example",
      dkim_selector: "herald1",
      smtp: {
        host: "smtp.example.com",
        port: 465,
        security: "ssl",
        username: "herald",
        timeout: 12,
        verify_certificate: true,
        ca_certificate: "-----BEGIN CERTIFICATE-----",
        helo_hostname: "mx.example.com",
      },
    });
    expect(body.smtp && "password" in body.smtp).toBe(false);
    expect("dkim_private_key" in body).toBe(false);
  });

  it("sends a new password and key, and blanks as null", () => {
    const values = {
      ...toFormValues(STORED),
      smtp_password: "s3cret",
      dkim_private_key: "  -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----  ",
      default_from_name: "  ",
    };
    const body = toSettingsUpdate(values, STORED);
    expect(body.smtp?.password).toBe("s3cret");
    expect(body.dkim_private_key).toBe("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n");
    expect(body.default_from_name).toBeNull();
  });

  it("removes DKIM signing altogether", () => {
    const body = toSettingsUpdate({ ...toFormValues(STORED), dkim_remove: true }, STORED);
    expect(body.dkim_private_key).toBeNull();
    expect(body.dkim_domain).toBeNull();
    expect(body.dkim_selector).toBeNull();
  });

  it("leaves SMTP out when no host is given (the outbox, first time)", () => {
    const fresh: EmailSettings = { ...STORED, provider: "outbox", smtp: null, dkim_key_set: false, dkim_record: null };
    const body = toSettingsUpdate({ ...toFormValues(fresh), postal_address: "2 Side St" }, fresh);
    expect(body.smtp).toBeUndefined();
    expect(body.provider).toBe("outbox");
    expect(body.postal_address).toBe("2 Side St");
  });
});

describe("validateSettings", () => {
  it("needs a host for SMTP and a real port", () => {
    const values = { ...toFormValues(STORED), smtp_host: "" };
    expect(validateSettings(values).smtp_host).toMatch(/host name/);
    expect(validateSettings({ ...toFormValues(STORED), smtp_port: 70000 }).smtp_port).toBeDefined();
    expect(validateSettings({ ...values, provider: "outbox" })).toEqual({});
  });

  it("checks addresses and the key's shape", () => {
    const errors = validateSettings({ ...toFormValues(STORED), default_from_email: "nope", dkim_private_key: "ssh-rsa AAA" });
    expect(Object.keys(errors).sort()).toEqual(["default_from_email", "dkim_private_key"]);
  });
});
