import { describe, expect, it } from "vitest";
import { outputNames, withFittedOutputs } from "./graph";
import { blankDefinition, newStep, newTrigger, STEP_KINDS, stepNamesOf, summarizeStep, summarizeTrigger } from "./steps";
import { NO_TEMPLATE, type Flow, type Step, type StepOf } from "./types";

describe("new steps", () => {
  it("makes every kind of step with the outputs its type has", () => {
    for (const kind of STEP_KINDS) {
      const step = withFittedOutputs(newStep(kind.type, `${kind.type}-1`));
      expect(step.type).toBe(kind.type);
      expect(Object.keys(step.outputs ?? {})).toEqual(outputNames(step));
    }
    const email = newStep("send_email", "e");
    expect(email.type === "send_email" && email.email.template_id).toBe(NO_TEMPLATE);
  });

  it("starts a blank flow with the API trigger and no steps", () => {
    expect(blankDefinition()).toMatchObject({ trigger: { type: "api" }, start: null, steps: [] });
  });

  it("keeps the event, or the segment, when the trigger's type changes", () => {
    expect(newTrigger("metric", { type: "metric", metric: "Viewed Product", filters: [] })).toMatchObject({ metric: "Viewed Product" });
    expect(newTrigger("segment_exited", { type: "segment_entered", segment_id: "s1" })).toEqual({ type: "segment_exited", segment_id: "s1" });
  });
});

describe("summaries on the canvas", () => {
  const templates = (id: string) => (id === "t1" ? "Cart reminder" : undefined);

  it("says what each step does in a line", () => {
    const cases: [Step, string][] = [
      [{ id: "d", type: "delay", delay: { amount: 4, unit: "hours" } }, "Wait 4 hours"],
      [{ id: "d", type: "delay", delay: { amount: 1, unit: "days" } }, "Wait 1 day"],
      [
        { id: "d", type: "delay", delay: { unit: "days", until: { weekdays: ["monday", "friday"], time_of_day: "09:30" } } },
        "Until Mon, Fri at 09:30",
      ],
      [
        { id: "w", type: "wait", wait_for: { type: "event", metric: "Placed Order" }, timeout: { amount: 2, unit: "days" } },
        "Until Placed Order, at most 2 days",
      ],
      [{ id: "e", type: "send_email", email: { template_id: "t1", status: "draft", smart_sending: true, smart_sending_hours: 16 } }, "Cart reminder (draft)"],
      [{ id: "e", type: "send_email", email: { template_id: NO_TEMPLATE, status: "live", smart_sending: true, smart_sending_hours: 16 } }, "Choose a template"],
      [{ id: "u", type: "update_profile", update: { set: { vip: true }, increment: { orders: 1 } } }, "Changes vip, orders"],
      [
        {
          id: "r",
          type: "random_split",
          branches: [
            { name: "a", weight: 70 },
            { name: "b", weight: 30 },
          ],
        },
        "a 70 · b 30",
      ],
    ];
    for (const [step, summary] of cases) expect(summarizeStep(step, templates)).toBe(summary);
  });

  it("sums up an SMS step by its text, or its saved template", () => {
    const smsTemplates = (id: string) => (id === "s1" ? "Welcome text" : undefined);
    const sms = (settings: Partial<StepOf<"send_sms">["sms"]>): Step => ({ id: "s", type: "send_sms", sms: { body: "", smart_sending: true, smart_sending_hours: 24, status: "live", ...settings } });
    expect(summarizeStep(sms({}), templates, smsTemplates)).toBe("Write the text");
    expect(summarizeStep(sms({ body: "Hi {{ profile.first_name }}" }), templates, smsTemplates)).toBe("Hi {{ profile.first_name }}");
    expect(summarizeStep(sms({ body: "x".repeat(80) }), templates, smsTemplates)).toBe(`${"x".repeat(57)}…`);
    expect(summarizeStep(sms({ body: null, template_id: "s1", status: "draft" }), templates, smsTemplates)).toBe("Welcome text (draft)");
    expect(summarizeStep(sms({ body: null, template_id: "gone" }), templates, smsTemplates)).toBe("An SMS template");
  });

  it("says who enters", () => {
    expect(summarizeTrigger({ type: "metric", metric: "Started Checkout", filters: [] })).toBe("Started Checkout");
    expect(summarizeTrigger({ type: "segment_entered", segment_id: "s" }, () => "VIPs")).toBe("Enters VIPs");
    expect(summarizeTrigger({ type: "date_property", property: "birthday", recurrence: "yearly", offset_days: -3, time_of_day: "10:00" })).toBe(
      "3 days before birthday (yearly) at 10:00",
    );
  });

  it("names steps by their label, else their kind and id, from the draft and the published version", () => {
    const flow = {
      name: "F",
      layout: {},
      draft: { version: 1, trigger: { type: "api" }, start: "a", steps: [{ id: "a", type: "delay", name: "Wait a bit", delay: { amount: 1, unit: "days" }, outputs: {} }] },
      published: { version: 1, trigger: { type: "api" }, start: "old", steps: [{ id: "old", type: "exit", outputs: {} }] },
    } as unknown as Flow;
    expect(stepNamesOf(flow)).toEqual({ a: "Wait a bit", old: "Exit (old)" });
  });
});
