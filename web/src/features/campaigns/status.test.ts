import { describe, expect, it } from "vitest";
import type { CampaignFigures } from "../../api/client";
import {
  abTestSummary,
  canDo,
  formatMetricValue,
  formatPValue,
  formatRate,
  metricValue,
  progressOf,
  progressText,
  recipientStatusLabel,
  sentCount,
  skippedParts,
  skippedSummary,
  skipReasonLabel,
  statCards,
} from "./status";

const FIGURES: CampaignFigures = {
  recipients: 10,
  skipped: 2,
  sent: 8,
  delivered: 0,
  bounced: 1,
  opens_unique: 3,
  opens_total: 5,
  clicks_unique: 1,
  clicks_total: 2,
  unsubscribes: 0,
  complaints: 0,
  conversions: 2,
  converters: 1,
  revenue: 59.5,
};

describe("formatRate", () => {
  it("is a percentage with one decimal, and a dash with nothing to divide by", () => {
    expect(formatRate(1, 8)).toBe("12.5%");
    expect(formatRate(0, 3)).toBe("0.0%");
    expect(formatRate(3, 0)).toBe("—");
  });
});

describe("progressOf", () => {
  it("counts the final rows as done and groups the statuses", () => {
    const progress = progressOf({ sent: 5, delivered: 1, skipped: 2, queued: 1, pending: 1 });
    expect(progress).toMatchObject({ total: 10, done: 8, percent: 80 });
    expect(progress.parts.map((p) => [p.key, p.count])).toEqual([
      ["sent", 6],
      ["skipped", 2],
      ["queued", 1],
      ["pending", 1],
    ]);
    expect(progress.parts.reduce((sum, p) => sum + p.percent, 0)).toBeCloseTo(100);
  });

  it("treats a status it does not know as final, with the problems, and empty as 0%", () => {
    expect(progressOf({ sent: 1, exploded: 1 }).parts).toMatchObject([
      { key: "sent", count: 1 },
      { key: "problem", count: 1 },
    ]);
    expect(progressOf({})).toEqual({ total: 0, done: 0, percent: 0, parts: [] });
    expect(progressOf({ waiting: 3, sent: 1 }).percent).toBe(25);
  });
});

describe("statuses", () => {
  it("name recipients' statuses, theirs and their messages'", () => {
    expect(recipientStatusLabel("waiting")).toBe("Waiting for the winner");
    expect(recipientStatusLabel("bounced")).toBe("Bounced");
    expect(recipientStatusLabel("new_thing")).toBe("New thing");
  });

  it("offer what each campaign status allows", () => {
    expect(canDo("draft", "edit")).toBe(true);
    expect(canDo("scheduled", "edit")).toBe(false);
    expect(canDo("scheduled", "send")).toBe(true);
    expect(canDo("sending", "delete")).toBe(false);
    expect(canDo("paused", "resume")).toBe(true);
    expect(canDo("sent", "cancel")).toBe(false);
  });

  it("count the messages that left", () => {
    expect(sentCount({ sent: 2, delivered: 1, bounced: 1, skipped: 4, queued: 1 })).toBe(4);
  });
});

describe("stats", () => {
  it("give rates of the messages sent", () => {
    const cards = Object.fromEntries(statCards(FIGURES, "Placed Order").map((c) => [c.label, c]));
    expect(cards["Open rate"]?.value).toBe("37.5%");
    expect(cards["Click rate"]?.value).toBe("12.5%");
    expect(cards["Sent"]?.detail).toBe("80.0% of recipients");
    expect(cards["Conversions"]?.detail).toBe("“Placed Order” by 1 person (12.5% of sent)");
    expect(cards["Revenue"]?.value).toBe("59.50");
    expect(statCards({ ...FIGURES, sent: 0 }, "x").find((c) => c.label === "Open rate")?.value).toBe("—");
  });

  it("measure a variant on the winning metric", () => {
    expect(metricValue("open_rate", FIGURES)).toBe(3 / 8);
    expect(metricValue("conversion_rate", FIGURES)).toBe(1 / 8);
    expect(metricValue("revenue_per_recipient", FIGURES)).toBeCloseTo(7.4375);
    expect(metricValue("click_rate", { ...FIGURES, sent: 0 })).toBeNull();
    expect(formatMetricValue("click_rate", 0.125)).toBe("12.5%");
    expect(formatMetricValue("revenue_per_recipient", 7.4375)).toBe("7.44");
    expect(formatPValue(0.03456)).toBe("0.0346");
    expect(formatPValue(0.00001)).toBe("< 0.0001");
  });

  it("describe the A/B set-up", () => {
    expect(
      abTestSummary({
        variants: [{}, {}, {}],
        pool_percent: 20,
        metric: "open_rate",
        duration_hours: 1,
        confidence: 0.95,
        fallback: "default",
        default_variant: "B",
      }),
    ).toBe(
      "20% of the audience is split over 3 variants (6.6% each). After 1 hour, the variant with the best open rate goes to everyone else if it wins at 95% confidence; otherwise variant B goes.",
    );
  });
});

describe("progressText", () => {
  it("counts the recipients the bar counts, and says no number before there is one", () => {
    expect(progressText("sending", true, progressOf({}))).toBe("Taking the audience snapshot…");
    expect(progressText("sending", true, progressOf({ pending: 4, skipped: 1 }))).toBe(
      "Taking the audience snapshot… 5 recipients so far",
    );
    expect(progressText("sending", false, progressOf({ sent: 3, skipped: 1 }))).toBe("4 of 4 recipients done (100%)");
    expect(progressText("sending", false, progressOf({ sent: 1 }))).toBe("1 of 1 recipient done (100%)");
    expect(progressText("scheduled", false, progressOf({}))).toBe("The audience is taken when sending starts.");
    expect(progressText("cancelled", false, progressOf({}))).toBe("No recipients.");
  });
});

describe("skippedSummary and skipReasonLabel", () => {
  it("name each reason once: with its count in a fixed order, and on a recipient's row", () => {
    expect(skippedSummary({ smart_sending: 2, no_email: 1, suppressed: 0, excluded_segment: 4 })).toBe(
      "4 in an excluded segment, 1 without an email address, 2 messaged recently (smart sending)",
    );
    expect(skippedSummary({})).toBe("");
    expect(skippedParts({ something_new: 1, no_phone: 2 }).map((p) => p.text)).toEqual([
      "2 without a phone number",
      "1 something new",
    ]);
    expect(skipReasonLabel("no_email")).toBe("No email address");
    expect(skipReasonLabel("no_phone")).toBe("No phone number");
    expect(skipReasonLabel("odd_reason")).toBe("odd reason");
  });
});
