import { describe, expect, it } from "vitest";
import {
  addTo,
  definitionProblems,
  canNestGroup,
  countConditions,
  emptyDefinition,
  eventMode,
  getAt,
  levelOf,
  listValues,
  newCondition,
  newEventCondition,
  operatorLabel,
  operatorsFor,
  parseNumber,
  placeErrors,
  predicateType,
  removeAt,
  toEditable,
  updateAt,
  valueInput,
  withEventMode,
  withOperator,
  withSubject,
  withValueType,
  windowTypes,
  withWindowType,
  type Condition,
  type Definition,
  type GroupCondition,
  type ProfileCondition,
} from "./definition";

function profile(change: Partial<ProfileCondition> = {}): ProfileCondition {
  return { type: "profile", property: "plan", operator: "equals", value: "pro", unit: "days", value_type: "string", ...change };
}

function group(conditions: Condition[], match: "all" | "any" = "any"): GroupCondition {
  return { type: "group", match, negate: false, conditions };
}

describe("operators", () => {
  it("offers the API's operators for each type", () => {
    expect(new Set(operatorsFor("string"))).toEqual(
      new Set(["equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with", "is_set", "is_not_set", "in", "not_in"]),
    );
    expect(new Set(operatorsFor("number"))).toEqual(
      new Set(["equals", "not_equals", "is_set", "is_not_set", "in", "not_in", "greater_than", "less_than", "between"]),
    );
    expect(new Set(operatorsFor("boolean"))).toEqual(new Set(["equals", "not_equals", "is_set", "is_not_set"]));
    expect(operatorsFor("date")).toContain("anniversary_within");
    expect(operatorsFor("date")).not.toContain("contains");
  });

  it("reads well for the type", () => {
    expect(operatorLabel("in_the_last", "date")).toBe("is in the last");
    expect(operatorLabel("greater_than", "date")).toBe("is after");
    expect(operatorLabel("greater_than", "number")).toBe("is greater than");
    expect(operatorLabel("not_in", "string")).toBe("is none of");
  });

  it("picks the input the operator needs", () => {
    expect(valueInput("string", "equals")).toBe("text");
    expect(valueInput("number", "equals")).toBe("number");
    expect(valueInput("boolean", "equals")).toBe("boolean");
    expect(valueInput("date", "equals")).toBe("date");
    expect(valueInput("string", "in")).toBe("list");
    expect(valueInput("number", "between")).toBe("number-range");
    expect(valueInput("date", "between")).toBe("date-range");
    expect(valueInput("date", "in_the_last")).toBe("relative");
    expect(valueInput("date", "anniversary_within")).toBe("days");
    expect(valueInput("string", "is_set")).toBe("none");
  });
});

describe("predicates", () => {
  it("compares as the built-in field's type, else the declared one, else the operand's", () => {
    expect(predicateType(profile({ value_type: null }), "created_at")).toBe("date");
    expect(predicateType(profile({ value_type: "number", value: 3 }))).toBe("number");
    expect(predicateType(profile({ value_type: null, value: true }))).toBe("boolean");
    expect(predicateType(profile({ value_type: null, operator: "in_the_last", value: null, amount: 3 }))).toBe("date");
    expect(predicateType(profile({ value_type: null, operator: "greater_than", value: "2026-01-01" }))).toBe("date");
    expect(predicateType(profile({ value_type: null, operator: "in", value: null, values: [1, 2] }))).toBe("number");
  });

  it("keeps operands that still fit when the operator changes, drops the others", () => {
    const listed = withOperator(profile(), "in", "string");
    expect(listed).toMatchObject({ operator: "in", values: ["pro"] });
    expect(listed.value).toBeUndefined();
    const set = withOperator(profile(), "is_set", "string");
    expect(set.value).toBeUndefined();
    expect(withOperator(profile(), "contains", "string")).toMatchObject({ operator: "contains", value: "pro" });
    const relative = withOperator(profile({ value_type: "date", operator: "equals", value: "2026-01-01" }), "in_the_last", "date");
    expect(relative).toMatchObject({ amount: 30, unit: "days" });
    expect(relative.value).toBeUndefined();
  });

  it("converts operands to a new type and picks an operator that fits", () => {
    const numeric = withValueType(profile({ value: "42" }), "number");
    expect(numeric).toMatchObject({ value_type: "number", operator: "equals", value: 42 });
    const boolean = withValueType(profile({ operator: "contains", value: "x" }), "boolean");
    expect(boolean.operator).toBe("equals");
    expect(boolean.value).toBe(true);
    const dated = withValueType(profile({ operator: "contains", value: "x" }), "date");
    expect(dated.operator).toBe("in_the_last");
    expect(dated.amount).toBe(30);
  });

  it("points a condition at a built-in field or a custom property", () => {
    const city = withSubject(profile(), { field: "city" });
    expect(city.field).toBe("city");
    expect(city.property).toBeUndefined();
    expect(city.value_type).toBeUndefined(); // the API refuses value_type for built-in fields
    const created = withSubject(city, { field: "created_at" });
    expect(created.operator).toBe("equals"); // "is on": it fits dates too
    expect(created.value).toBeUndefined(); // "pro" is no date
    const custom = withSubject(created, { property: "age", type: "number" });
    expect(custom).toMatchObject({ property: "age", value_type: "number", operator: "equals" });
    expect(custom.field).toBeUndefined();
  });

  it("reads numbers and lists typed as text", () => {
    expect(parseNumber(" 12.5 ")).toBe(12.5);
    expect(parseNumber("12a")).toBeNull();
    expect(listValues(["1", "x"], "number")).toEqual([1, "x"]);
    expect(listValues(["1"], "string")).toEqual(["1"]);
  });
});

describe("events", () => {
  it("shows has done, has not done and counts", () => {
    const event = newEventCondition("Placed Order");
    expect(eventMode(event)).toBe("done");
    expect(eventMode(withEventMode(event, "not_done"))).toBe("not_done");
    expect(withEventMode(event, "not_done")).toMatchObject({ measure: "count", operator: "exactly", value: 0 });
    expect(withEventMode(event, "count")).toMatchObject({ measure: "count", operator: "at_least", value: 2 });
    expect(eventMode({ ...event, operator: "at_most", value: 3 })).toBe("count");
    const sum = withEventMode(event, "sum");
    expect(sum).toMatchObject({ measure: "sum", operator: "at_least", value: 0 });
    expect(eventMode(withEventMode(sum, "average"))).toBe("average");
    expect(withEventMode({ ...event, operator: "between", value: 1, value_to: 3 }, "done").value_to).toBeUndefined();
  });

  it("builds windows the API accepts", () => {
    expect(withWindowType(undefined, "in_the_last")).toEqual({ type: "in_the_last", amount: 30, unit: "days" });
    const between = withWindowType(undefined, "between");
    expect(between.start).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/);
    expect(between.end).toMatch(/T23:59:59Z$/);
    expect(withWindowType(between, "all_time")).toEqual({ type: "all_time", unit: "days" });
    expect(withWindowType(between, "since_flow_start")).toEqual({ type: "since_flow_start", unit: "days" });
  });

  it("offers the flow's own window in flows only", () => {
    const segment = windowTypes("segment").map((w) => w.value);
    const flow = windowTypes("flow").map((w) => w.value);
    expect(segment).not.toContain("since_flow_start");
    expect(flow).toEqual([...segment, "since_flow_start"]);
  });
});

describe("the tree", () => {
  const tree: Definition = {
    ...emptyDefinition(),
    conditions: [profile(), group([newEventCondition("A"), group([profile({ property: "deep" })])])],
  };

  it("reads, changes, adds and removes by path, sharing what did not change", () => {
    expect(getAt(tree, [1, 1, 0])).toMatchObject({ property: "deep" });
    expect(getAt(tree, [5])).toBeUndefined();
    expect(getAt(tree, [0, 0])).toBeUndefined();
    const replaced: object[] = [];
    const changed = updateAt(tree, [1, 0], () => newEventCondition("B"), (before) => replaced.push(before));
    expect(getAt(changed, [1, 0])).toMatchObject({ metric: "B" });
    expect(getAt(tree, [1, 0])).toMatchObject({ metric: "A" }); // immutable
    expect(changed.conditions[0]).toBe(tree.conditions[0]);
    expect(replaced).toEqual([getAt(tree, [1, 0]), getAt(tree, [1]), tree]);
    const added = addTo(tree, [1, 1], newCondition("consent"));
    expect(countConditions(added)).toBe(4);
    const removed = removeAt(added, [1]);
    expect(removed.conditions).toHaveLength(1);
    expect(removeAt(tree, [])).toBe(tree);
  });

  it("counts leaves and limits nesting to five levels", () => {
    expect(countConditions(tree)).toBe(3);
    expect(levelOf([])).toBe(1);
    expect(canNestGroup([])).toBe(true);
    expect(canNestGroup([0, 0, 0])).toBe(true); // level 4 may hold a level-5 group
    expect(canNestGroup([0, 0, 0, 0])).toBe(false); // level 5 is the deepest
  });

  it("takes a definition the API sent back", () => {
    expect(toEditable({ match: "any", negate: true, conditions: [profile()], version: 1 })).toEqual({
      version: 1,
      match: "any",
      negate: true,
      conditions: [profile()],
    });
    expect(toEditable(null)).toEqual(emptyDefinition());
  });
});

describe("errors", () => {
  it("places the API's field errors on conditions", () => {
    const placed = placeErrors([
      { field: "definition.conditions[0].conditions[1]", reason: "between needs `value_to`" },
      { field: "definition.conditions[0].metric", reason: "String should have at least 1 character" },
      { field: "definition.conditions", reason: "List should have at least 1 item" },
      { field: "name", reason: "another segment already has this name" },
    ]);
    expect(placed.byCondition).toEqual({
      "0.1": ["between needs `value_to`"],
      "0": ["Event: missing"],
      "": ["List should have at least 1 item"],
    });
    expect(placed.other).toEqual([{ field: "name", reason: "another segment already has this name" }]);
    expect(
      placeErrors([
        { field: "definition.conditions[2].filters[0].property", reason: "String should have at least 1 character" },
        { field: "definition.conditions[3].segment_id", reason: "Input should be a valid UUID, invalid length: found 0" },
      ]).byCondition,
    ).toEqual({ "2": ["Property filter 1, property: missing"], "3": ["Segment: choose one"] });
  });
});

describe("completeness", () => {
  it("names what each new condition lacks, and nothing once it is complete", () => {
    const definition = {
      ...emptyDefinition(),
      conditions: [
        newCondition("profile"),
        newCondition("event"),
        { type: "group", match: "any", negate: false, conditions: [newCondition("segment"), newCondition("consent")] },
      ],
    } as Definition;
    expect(definitionProblems(definition)).toEqual({
      "0": ["Property: missing", "Value: missing"],
      "1": ["Event: missing"],
      "2.0": ["Segment: choose one"],
    });
    const complete = {
      ...emptyDefinition(),
      conditions: [
        { type: "profile", field: "city", operator: "equals", value: "Berlin", unit: "days" },
        { type: "profile", property: "plan", operator: "is_set", unit: "days" },
        { type: "profile", property: "tags", operator: "in", values: [], unit: "days" },
        {
          ...newEventCondition("Placed Order"),
          window: { type: "in_the_last", unit: "days" },
          filters: [{ property: "", operator: "equals", value: "x", unit: "days" }],
        },
      ],
    } as Definition;
    expect(definitionProblems(complete)).toEqual({
      "2": ["Values: add at least one"],
      "3": ["When: the amount is missing", "Property filter 1: the property is missing"],
    });
  });
});
