import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderAt } from "../../test/render";
import { definitionProblems, emptyDefinition, type Definition } from "./definition";
import { SegmentBuilder } from "./SegmentBuilder";

let latest: Definition = emptyDefinition();

function Harness({
  initial,
  scope,
  serverErrors = { "0": ["value: needs a value"] },
}: {
  initial: Definition;
  scope?: "segment" | "flow";
  serverErrors?: Record<string, string[]>;
}) {
  const [definition, setDefinition] = useState(initial);
  latest = definition;
  return (
    <SegmentBuilder
      definition={definition}
      onChange={setDefinition}
      catalog={{
        fields: [
          { name: "email", type: "string" },
          { name: "city", type: "string" },
        ],
        properties: [{ name: "age", type: "number" }],
        metrics: ["Placed Order"],
      }}
      segments={[
        { id: "11111111-1111-4111-8111-111111111111", name: "Self" },
        { id: "22222222-2222-4222-8222-222222222222", name: "Other" },
      ]}
      selfId="11111111-1111-4111-8111-111111111111"
      errors={serverErrors}
      problems={definitionProblems(definition)}
      scope={scope}
    />
  );
}

function renderBuilder(initial: Definition = emptyDefinition(), scope?: "segment" | "flow") {
  return renderAt("/", [{ path: "/", element: <Harness initial={initial} scope={scope} /> }]);
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("SegmentBuilder", () => {
  it("says what a new condition lacks only once it is left, and offers fields with values", async () => {
    const user = userEvent.setup();
    const fetch = vi.fn(async (request: Request) =>
      new URL(request.url).pathname === "/api/profiles/property-values"
        ? json(200, { data: [{ value: "Berlin", count: 3 }] })
        : json(404, {}),
    );
    vi.stubGlobal("fetch", fetch);
    renderAt("/", [{ path: "/", element: <Harness initial={emptyDefinition()} serverErrors={{}} /> }]);
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.click(await screen.findByRole("menuitem", { name: "Profile property", hidden: true }));
    const condition = screen.getByRole("group", { name: "Condition 1" });
    expect(within(condition).queryByText("Property: missing")).toBeNull();
    await user.click(within(condition).getByLabelText("Property"));
    // Built-in fields are listed directly, by their names.
    await user.click(await screen.findByRole("option", { name: "City", hidden: true }));
    expect(latest.conditions[0]).toMatchObject({ field: "city", operator: "equals" });
    await user.click(within(condition).getByLabelText("Value"));
    await user.click(await screen.findByRole("option", { name: "Berlin", hidden: true }));
    expect(latest.conditions[0]).toMatchObject({ field: "city", value: "Berlin" });
    const asked = fetch.mock.calls.map(([request]) => new URL(request.url).searchParams.get("field"));
    expect(asked).toContain("city");

    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.click(await screen.findByRole("menuitem", { name: "Segment membership", hidden: true }));
    const second = screen.getByRole("group", { name: "Condition 2" });
    await user.click(within(second).getByLabelText("Segment"));
    expect(within(second).queryByText("Segment: choose one")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Add group" })); // leaves condition 2
    expect(await within(second).findByText("Segment: choose one")).toBeTruthy();
    expect(within(condition).queryByText(/missing/)).toBeNull();
  });

  it("nests groups five levels deep, no deeper", async () => {
    const user = userEvent.setup();
    renderBuilder();
    await user.click(screen.getByRole("button", { name: "Add group" }));
    await user.click(screen.getByRole("button", { name: "Add group to group 1" }));
    await user.click(screen.getByRole("button", { name: "Add group to group 1.1" }));
    await user.click(screen.getByRole("button", { name: "Add group to group 1.1.1" }));
    expect(screen.getByRole("button", { name: "Add group to group 1.1.1.1" }).hasAttribute("disabled")).toBe(true);
    const deepest = latest.conditions[0];
    expect(JSON.stringify(deepest).match(/"type":"group"/g)).toHaveLength(4);
    await user.click(screen.getByRole("button", { name: "Remove group 1.1" }));
    expect(latest.conditions[0]).toEqual({ type: "group", match: "any", negate: false, conditions: [] });
  });

  it("edits the definition JSON: match, not, and a count that stays a count", async () => {
    const user = userEvent.setup();
    renderBuilder({
      ...emptyDefinition(),
      conditions: [{ type: "event", metric: "Placed Order", measure: "count", operator: "at_least", value: 1, filters: [] }],
    });
    const root = screen.getByRole("group", { name: "Conditions" });
    await user.click(within(root).getByText("Any"));
    await user.click(within(root).getByRole("switch", { name: /^Not/ }));
    expect(latest).toMatchObject({ match: "any", negate: true });
    expect(screen.getByText("People who do not match")).toBeTruthy();

    const condition = screen.getByRole("group", { name: "Condition 1" });
    expect(within(condition).getByText("value: needs a value")).toBeTruthy();
    await user.click(within(condition).getByLabelText("Condition"));
    await user.click(await screen.findByRole("option", { name: "count of times", hidden: true }));
    expect(latest.conditions[0]).toMatchObject({ measure: "count", operator: "at_least", value: 2 });
    const number = within(condition).getByLabelText("Number");
    fireEvent.change(number, { target: { value: "1" } });
    expect(latest.conditions[0]).toMatchObject({ operator: "at_least", value: 1 });
    // Still shown as a count (not flipped to "has done" while the number is typed).
    expect(within(condition).getByLabelText("Number")).toBeTruthy();
  });

  it("offers other segments only, and removes conditions", async () => {
    const user = userEvent.setup();
    renderBuilder({ ...emptyDefinition(), conditions: [{ type: "segment", segment_id: "", operator: "in" }] });
    const condition = screen.getByRole("group", { name: "Condition 1" });
    await user.click(within(condition).getByLabelText("Segment"));
    expect(await screen.findByRole("option", { name: "Other", hidden: true })).toBeTruthy();
    expect(screen.queryByRole("option", { name: "Self", hidden: true })).toBeNull();
    await user.click(screen.getByRole("option", { name: "Other", hidden: true }));
    expect(latest.conditions[0]).toMatchObject({ segment_id: "22222222-2222-4222-8222-222222222222" });
    await user.click(screen.getByRole("button", { name: "Remove condition 1" }));
    expect(latest.conditions).toEqual([]);
  });

  it("adds each kind of condition from the menu", async () => {
    const user = userEvent.setup();
    renderBuilder();
    for (const kind of ["Profile property", "Event", "Segment membership", "Consent"]) {
      await user.click(screen.getByRole("button", { name: "Add condition" }));
      await user.click(await screen.findByRole("menuitem", { name: kind, hidden: true }));
    }
    expect(latest.conditions.map((c) => c.type)).toEqual(["profile", "event", "segment", "consent"]);
  });

  it("counts events since the flow started in a flow's conditions only", async () => {
    const user = userEvent.setup();
    const placedOrder: Definition = {
      ...emptyDefinition(),
      conditions: [{ type: "event", metric: "Placed Order", measure: "count", operator: "exactly", value: 0, filters: [] }],
    };
    renderBuilder(placedOrder);
    await user.click(within(screen.getByRole("group", { name: "Condition 1" })).getByLabelText("When"));
    expect(await screen.findByRole("option", { name: "since", hidden: true })).toBeTruthy();
    expect(screen.queryByRole("option", { name: "since starting this flow", hidden: true })).toBeNull();
    cleanup();

    renderBuilder(placedOrder, "flow");
    await user.click(within(screen.getByRole("group", { name: "Condition 1" })).getByLabelText("When"));
    await user.click(await screen.findByRole("option", { name: "since starting this flow", hidden: true }));
    expect(latest.conditions[0]).toMatchObject({ window: { type: "since_flow_start" } });
  });
});
