import { describe, expect, it } from "vitest";
import {
  addStep,
  autoLayout,
  canConnect,
  COLUMN_WIDTH,
  completeLayout,
  connect,
  disconnect,
  newStepId,
  outputNames,
  parseEdgeId,
  removeSteps,
  ROW_HEIGHT,
  toCanvas,
  TRIGGER_NODE,
  updateStep,
  type GraphShape,
  type StepShape,
} from "./graph";

function step(id: string, type: string, outputs: Record<string, string | null>, extra: Partial<StepShape> = {}): StepShape {
  return { id, type, outputs, ...extra };
}

/** The abandoned cart: delay -> split (yes: email -> exit; no: nothing). */
function abandonedCart(): GraphShape {
  return {
    start: "wait",
    steps: [
      step("wait", "delay", { next: "split" }),
      step("split", "conditional_split", { yes: "email", no: null }),
      step("email", "send_email", { next: "done" }),
      step("done", "exit", {}),
    ],
  };
}

describe("outputs", () => {
  it("names each step type's outputs as the API does", () => {
    expect(outputNames(step("a", "delay", {}))).toEqual(["next"]);
    expect(outputNames(step("a", "wait", {}))).toEqual(["yes", "no"]);
    expect(outputNames(step("a", "trigger_split", {}))).toEqual(["yes", "no"]);
    expect(outputNames(step("a", "exit", {}))).toEqual([]);
    const random = step("a", "random_split", {}, { branches: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }] });
    expect(outputNames(random)).toEqual(["a", "b"]);
  });

  it("fits a random split's outputs to its branches when they change", () => {
    const graph: GraphShape = {
      start: "r",
      steps: [
        step("r", "random_split", { a: "x", b: "y" }, { branches: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }] }),
        step("x", "exit", {}),
        step("y", "exit", {}),
      ],
    };
    const changed = updateStep(graph, "r", (s) => ({ ...s, branches: [{ name: "a", weight: 1 }, { name: "c", weight: 2 }] }));
    expect(changed.steps[0]!.outputs).toEqual({ a: "x", c: null });
    expect(graph.steps[0]!.outputs).toEqual({ a: "x", b: "y" });
  });
});

describe("editing the graph", () => {
  it("gives new steps unused ids from their type", () => {
    const graph: GraphShape = { start: null, steps: [step("delay-1", "delay", { next: null })] };
    expect(newStepId(graph, "delay")).toBe("delay-2");
    expect(newStepId(graph, "send_email")).toBe("send-email-1");
  });

  it("makes the first step of an empty flow its start, and later ones unconnected", () => {
    const empty: GraphShape = { start: null, steps: [] };
    const first = addStep(empty, step("delay-1", "delay", {}));
    expect(first.start).toBe("delay-1");
    expect(first.steps[0]!.outputs).toEqual({ next: null });
    const second = addStep(first, step("split-1", "conditional_split", {}));
    expect(second.start).toBe("delay-1");
    expect(second.steps[1]!.outputs).toEqual({ yes: null, no: null });
  });

  it("connects outputs and the trigger, and disconnects them", () => {
    const empty: GraphShape = { start: null, steps: [] };
    let graph = addStep(addStep(empty, step("a", "delay", {})), step("b", "exit", {}));
    graph = connect(graph, "a", "next", "b");
    expect(graph.steps[0]!.outputs).toEqual({ next: "b" });
    graph = disconnect(graph, "a", "next");
    expect(graph.steps[0]!.outputs).toEqual({ next: null });
    graph = connect(graph, TRIGGER_NODE, "next", "b");
    expect(graph.start).toBe("b");
    expect(disconnect(graph, TRIGGER_NODE, "next").start).toBeNull();
  });

  it("refuses connections that would loop, point at the trigger or at nothing", () => {
    const graph = abandonedCart();
    expect(canConnect(graph, "email", "wait")).toBe(false);
    expect(canConnect(graph, "done", "split")).toBe(false);
    expect(canConnect(graph, "split", "split")).toBe(false);
    expect(canConnect(graph, "split", TRIGGER_NODE)).toBe(false);
    expect(canConnect(graph, "split", "missing")).toBe(false);
    expect(canConnect(graph, "wait", "done")).toBe(true);
    expect(connect(graph, "email", "next", "wait")).toBe(graph);
  });

  it("removes steps and ends the paths that led to them", () => {
    const graph = removeSteps(abandonedCart(), ["email"]);
    expect(graph.steps.map((s) => s.id)).toEqual(["wait", "split", "done"]);
    expect(graph.steps[1]!.outputs).toEqual({ yes: null, no: null });
    expect(removeSteps(abandonedCart(), ["wait"]).start).toBeNull();
  });
});

describe("the canvas", () => {
  it("draws the trigger, every step, and an edge per connected output", () => {
    const { nodes, edges } = toCanvas(abandonedCart(), {});
    expect(nodes.map((n) => n.id)).toEqual([TRIGGER_NODE, "wait", "split", "email", "done"]);
    expect(nodes[0]!.step).toBeNull();
    expect(nodes[2]!.step?.type).toBe("conditional_split");
    expect(edges).toEqual([
      { id: "trigger:next", source: TRIGGER_NODE, sourceHandle: "next", target: "wait" },
      { id: "wait:next", source: "wait", sourceHandle: "next", target: "split" },
      { id: "split:yes", source: "split", sourceHandle: "yes", target: "email", label: "yes" },
      { id: "email:next", source: "email", sourceHandle: "next", target: "done" },
    ]);
    expect(parseEdgeId("split:yes")).toEqual({ source: "split", output: "yes" });
  });

  it("round-trips: the edges drawn connect back into the same graph", () => {
    const graph = abandonedCart();
    const { edges } = toCanvas(graph, {});
    let rebuilt: GraphShape = {
      start: null,
      steps: graph.steps.map((s) => ({ ...s, outputs: Object.fromEntries(outputNames(s).map((n) => [n, null])) })),
    };
    for (const edge of edges) rebuilt = connect(rebuilt, edge.source, edge.sourceHandle, edge.target);
    expect(rebuilt).toEqual(graph);
  });

  it("keeps the places it is given and finds places for the rest", () => {
    const layout = { trigger: { x: 0, y: 0 }, wait: { x: 10, y: 200 } };
    const { nodes } = toCanvas(abandonedCart(), layout);
    expect(nodes[1]!.position).toEqual({ x: 10, y: 200 });
    const placed = completeLayout(abandonedCart(), layout);
    for (const id of ["split", "email", "done"]) expect(placed[id]!.y).toBeGreaterThan(200);
  });
});

describe("auto-layout", () => {
  it("puts every step below what leads to it, and a split's outputs side by side", () => {
    const graph: GraphShape = {
      start: "split",
      steps: [
        step("split", "conditional_split", { yes: "a", no: "b" }),
        step("a", "delay", { next: "join" }),
        step("b", "send_email", { next: null }),
        step("join", "exit", {}),
      ],
    };
    // b also leads to join, one row further down than a's path would put it.
    graph.steps[2]!.outputs = { next: "join" };
    const layout = autoLayout(graph);
    expect(layout.trigger!.y).toBe(0);
    expect(layout.split!.y).toBe(ROW_HEIGHT);
    expect(layout.a!.y).toBe(2 * ROW_HEIGHT);
    expect(layout.b!.y).toBe(2 * ROW_HEIGHT);
    expect(layout.a!.x).toBeLessThan(layout.b!.x);
    expect(layout.b!.x - layout.a!.x).toBe(COLUMN_WIDTH);
    expect(layout.split!.x).toBe((layout.a!.x + layout.b!.x) / 2);
    expect(layout.join!.y).toBe(3 * ROW_HEIGHT);
    // Every connection points down.
    for (const edge of toCanvas(graph, layout).edges) expect(layout[edge.target]!.y).toBeGreaterThan(layout[edge.source]!.y);
  });

  it("gives unreachable steps a column of their own, and survives a loop", () => {
    const graph: GraphShape = {
      start: "a",
      steps: [step("a", "delay", { next: "b" }), step("b", "delay", { next: "a" }), step("lost", "exit", {})],
    };
    const layout = autoLayout(graph);
    expect(Object.keys(layout).sort()).toEqual(["a", "b", "lost", "trigger"]);
    const placed = new Set(Object.values(layout).map((p) => `${p.x},${p.y}`));
    expect(placed.size).toBe(4);
  });

  it("lays out a long chain without running out of stack", () => {
    const steps = Array.from({ length: 200 }, (_, i) => step(`s${i}`, "delay", { next: i < 199 ? `s${i + 1}` : null }));
    const layout = autoLayout({ start: "s0", steps });
    expect(layout.s199!.y).toBe(200 * ROW_HEIGHT);
  });
});
