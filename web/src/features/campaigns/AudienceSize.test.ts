import { describe, expect, it } from "vitest";
import { audienceRequest, leftOutByReason } from "./AudienceSize";

describe("audienceRequest", () => {
  it("asks nothing without a segment or with smart sending hours below one", () => {
    const settings = { include: ["s1"], exclude: [], smartSending: true, smartSendingHours: 16 };
    expect(audienceRequest({ ...settings, include: [] })).toBeNull();
    expect(audienceRequest({ ...settings, smartSendingHours: 0 })).toBeNull();
    expect(audienceRequest({ ...settings, exclude: ["s2"], channel: "sms" })).toEqual({
      include_segment_ids: ["s1"],
      exclude_segment_ids: ["s2"],
      smart_sending: true,
      smart_sending_hours: 16,
      channel: "sms",
    });
  });
});

describe("leftOutByReason", () => {
  it("adds the members of excluded segments to the snapshot's reasons", () => {
    expect(leftOutByReason({ eligible: 3, total: 5, excluded: 2, skipped: { no_email: 2 } })).toEqual({
      excluded_segment: 2,
      no_email: 2,
    });
  });
});
