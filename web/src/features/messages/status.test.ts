import { describe, expect, it } from "vitest";
import { eventColor, eventLabel, isInFlight, isMessageStatus, sourceLabel, sourcePath } from "./status";

describe("message statuses and events", () => {
  it("names statuses and what recipients did", () => {
    expect(eventLabel("sent")).toBe("Sent");
    expect(eventLabel("opened")).toBe("Opened");
    expect(eventLabel("spam_report")).toBe("Spam report");
    expect(eventColor("failed")).toBe("red");
    expect(eventColor("clicked")).toBe("grape");
    expect(eventColor("something")).toBe("gray");
  });

  it("knows which statuses are still moving", () => {
    expect(isInFlight("queued")).toBe(true);
    expect(isInFlight("sent")).toBe(false);
    expect(isMessageStatus("delivered")).toBe(true);
    expect(isMessageStatus("opened")).toBe(false);
  });
});

describe("message sources", () => {
  it("names a campaign's test send as such and links the campaign or flow that sent it", () => {
    expect(sourceLabel("campaign_test")).toBe("Campaign test send");
    expect(sourceLabel("transactional")).toBe("Transactional API");
    expect(sourcePath("campaign_test", "c1")).toBe("/campaigns/c1");
    expect(sourcePath("campaign", "c1")).toBe("/campaigns/c1");
    expect(sourcePath("flow", "f1")).toBe("/flows/f1");
    expect(sourcePath("transactional", null)).toBeNull();
  });
});
