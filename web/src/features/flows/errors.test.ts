import { describe, expect, it } from "vitest";
import { describePart, placeFlowErrors, problemCount } from "./errors";
import type { GraphShape } from "./graph";

const graph: GraphShape = {
  start: "wait",
  steps: [
    { id: "wait", type: "delay", outputs: { next: "split" } },
    { id: "split", type: "conditional_split", outputs: { yes: null, no: null } },
  ],
};

describe("placing a flow's validation errors", () => {
  it("puts errors about a step on that step, by its index in `steps`", () => {
    const placed = placeFlowErrors(
      [
        { field: "definition.steps[0].delay.amount", reason: "Input should be greater than or equal to 1" },
        { field: "definition.steps[1].outputs.yes", reason: "missing: name the next step" },
        { field: "definition.steps[1]", reason: "'split' is unreachable" },
      ],
      graph,
    );
    expect(placed.steps.wait!.messages).toEqual(["Delay › Amount: Input should be greater than or equal to 1"]);
    expect(placed.steps.split!.messages).toEqual(["Outputs › yes: missing: name the next step", "'split' is unreachable"]);
    expect(problemCount(placed.steps.split)).toBe(2);
    expect(placed.other).toEqual([]);
  });

  it("places a split's condition errors on the condition, as the segment builder does", () => {
    const placed = placeFlowErrors(
      [{ field: "definition.steps[1].condition.conditions[0].metric", reason: "String should have at least 1 character" }],
      graph,
    );
    expect(placed.steps.split!.conditions).toEqual({ "0": ["Event: missing"] });
    expect(problemCount(placed.steps.split)).toBe(1);
  });

  it("sorts trigger, filter, re-entry and other errors", () => {
    const placed = placeFlowErrors(
      [
        { field: "definition.trigger.metric", reason: "String should have at least 1 character" },
        { field: "definition.trigger.filters[0].value", reason: "required" },
        { field: "definition.start", reason: "name the first step" },
        { field: "definition.filters.conditions[1].value", reason: "a number" },
        { field: "definition.reentry.period", reason: "Value error, once_per_period needs `period`" },
        { field: "draft.steps[9].type", reason: "unknown" },
        { field: "name", reason: "String should have at least 1 character" },
      ],
      graph,
    );
    expect(placed.trigger).toEqual(["Event: missing", "Property filter 1, value: required", "First step: name the first step"]);
    expect(placed.filters).toEqual({ "1": ["Value: a number"] });
    expect(placed.reentry).toEqual(["Period: once_per_period needs `period`"]);
    expect(placed.other).toEqual(["Step 10 › Type: unknown", "Name: missing"]);
  });

  it("names the parts of a step's settings for people", () => {
    expect(describePart("email.template_id")).toBe("Email › Template");
    expect(describePart("branches[1].name")).toBe("Branches 2 › Name");
    expect(describePart("wait_for.filters[0].property")).toBe("Wait for › Property filter 1, property");
    expect(describePart("filters[2]")).toBe("Property filter 3");
  });
});
