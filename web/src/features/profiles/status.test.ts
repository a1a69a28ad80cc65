import { describe, expect, it } from "vitest";
import { channelBadge, engagementLabels } from "./status";

const state = { status: "none", since: null, method: null, can_receive_marketing: true, suppressed: false } as const;

describe("channel badges", () => {
  it("say suppressed before unsubscribed, and why nothing can be sent", () => {
    expect(channelBadge("email", { ...state, suppressed: true, can_receive_marketing: false }, "a@x.io").label).toBe(
      "Email suppressed",
    );
    expect(channelBadge("email", { ...state, status: "unsubscribed", can_receive_marketing: false }, "a@x.io").label).toBe(
      "Email unsubscribed",
    );
    expect(channelBadge("email", state, "a@x.io")).toMatchObject({ label: "Email OK", color: "teal" });
    expect(channelBadge("sms", { ...state, status: "subscribed" }, "+4915")).toMatchObject({ label: "SMS subscribed" });
    expect(channelBadge("sms", { ...state, can_receive_marketing: false }, "+4915").label).toBe("SMS: no consent");
    expect(channelBadge("sms", state, null).label).toBe("No phone");
  });
});

describe("engagement", () => {
  it("lists what happened to a message", () => {
    const none = { opened: 0, clicked: 0, unsubscribed: 0, bounced: 0, complained: 0 };
    expect(engagementLabels({ ...none, opened: 2, clicked: 1 }, "email").map((l) => l.label)).toEqual(["Opened 2×", "Clicked"]);
    expect(engagementLabels({ ...none, bounced: 1 }, "email").map((l) => l.label)).toEqual(["Bounced"]);
    expect(engagementLabels(none, "email").map((l) => l.label)).toEqual(["Not opened"]);
    expect(engagementLabels(none, "sms")).toEqual([]);
    expect(engagementLabels(null, "email")).toEqual([]);
  });
});
