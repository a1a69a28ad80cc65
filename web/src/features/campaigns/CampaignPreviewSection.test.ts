import { describe, expect, it } from "vitest";
import { campaignPreviewRequest } from "./CampaignPreviewSection";

describe("campaignPreviewRequest", () => {
  it("renders for the sample person, or for a chosen profile once there is one", () => {
    const sample = campaignPreviewRequest("sample", null, null);
    expect(sample?.sample?.profile).toMatchObject({ first_name: "Ada" });
    expect(sample?.profile_id).toBeUndefined();
    expect(campaignPreviewRequest("profile", null, null)).toBeNull();
    expect(campaignPreviewRequest("profile", "p1", "B")).toEqual({ profile_id: "p1", variant: "B" });
  });
});
