import { describe, expect, it } from "vitest";
import { eventColor, eventLabel, isInFlight, isMessageStatus } from "./status";

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
