import { describe, expect, it } from "vitest";
import { toProviderCreate } from "./emailProvidersForm";

describe("add a provider form", () => {
  it("leaves blank settings out and types numbers and lists", () => {
    const body = toProviderCreate({
      kind: "ses",
      label: " SES ",
      per_second: 14,
      per_day: "",
      config: {
        region: "eu-west-1",
        access_key_id: "AKIA",
        secret_access_key: "",
        sns_topic_arns: "arn:a, arn:b",
        host: "not an SES setting",
      },
    });
    expect(body).toEqual({
      kind: "ses",
      label: "SES",
      enabled: true,
      per_second: 14,
      per_day: null,
      config: { region: "eu-west-1", access_key_id: "AKIA", sns_topic_arns: ["arn:a", "arn:b"] },
    });
  });

  it("sends SES's DKIM tokens as a list and Postmark's selector as text", () => {
    const ses = toProviderCreate({ kind: "ses", label: "SES", per_second: "", per_day: "", config: { dkim_tokens: "tok1 tok2,tok3" } });
    expect(ses.config).toEqual({ dkim_tokens: ["tok1", "tok2", "tok3"] });
    const postmark = toProviderCreate({ kind: "postmark", label: "PM", per_second: "", per_day: "", config: { dkim_selector: " 20240101000000pm " } });
    expect(postmark.config).toEqual({ dkim_selector: "20240101000000pm" });
  });

  it("sends an SMTP port as a number", () => {
    const body = toProviderCreate({ kind: "smtp", label: "Relay", per_second: "", per_day: "", config: { host: "mx", port: "2525" } });
    expect(body.config).toEqual({ host: "mx", port: 2525 });
  });
});
