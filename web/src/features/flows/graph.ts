/**
 * A flow's graph as the builder edits it, without React. The builder's state *is* the API's
 * definition JSON (herald/flows/definition.py) plus the layout (where each node is drawn): these
 * functions change it immutably, turn it into the canvas's nodes and edges, and lay it out.
 *
 * The functions are generic over the step type, so that they keep the API's full step types while
 * needing only the part every step shares.
 */

/** The canvas node that stands for the trigger; its one output leads to `start`. */
export const TRIGGER_NODE = "trigger";
/** The name of the trigger's output (and of every single-output step's). */
export const NEXT = "next";

export interface Point {
  x: number;
  y: number;
}

/** Where each node is drawn: `trigger` and every step id. */
export type Layout = Record<string, Point>;

export interface StepShape {
  id: string;
  type: string;
  name?: string | null;
  outputs?: Record<string, string | null>;
  /** Only random splits have branches; each branch's name is an output. */
  branches?: readonly { name: string; weight: number }[];
}

export interface GraphShape<S extends StepShape = StepShape> {
  start: string | null;
  steps: S[];
}

/** The outputs a step has, in the order the canvas draws them (as definition.py's output_names). */
export function outputNames(step: StepShape): string[] {
  switch (step.type) {
    case "wait":
    case "conditional_split":
    case "trigger_split":
      return ["yes", "no"];
    case "random_split":
      return (step.branches ?? []).map((branch) => branch.name);
    case "exit":
      return [];
    default:
      return [NEXT];
  }
}

/** The step with exactly its outputs: new ones lead nowhere yet, ones it no longer has go. */
export function withFittedOutputs<S extends StepShape>(step: S): S {
  const outputs: Record<string, string | null> = {};
  for (const name of outputNames(step)) outputs[name] = step.outputs?.[name] ?? null;
  return { ...step, outputs };
}

/** An id no step has yet, from the step's type: `delay-1`, `delay-2`, ... */
export function newStepId(graph: GraphShape, type: string): string {
  const taken = new Set(graph.steps.map((step) => step.id));
  const base = type.replace(/_/g, "-");
  for (let n = 1; ; n += 1) {
    const id = `${base}-${n}`;
    if (!taken.has(id)) return id;
  }
}

/** The graph with `step` added (outputs fitted). The first step of an empty flow becomes its
 * start, so that dropping one step under the trigger makes a flow that does something. */
export function addStep<S extends StepShape, G extends GraphShape<S>>(graph: G, step: S): G {
  return {
    ...graph,
    start: graph.start ?? (graph.steps.length === 0 ? step.id : null),
    steps: [...graph.steps, withFittedOutputs(step)],
  };
}

/** The graph with the step replaced by `change(step)` (outputs fitted: a random split that lost a
 * branch loses its output). */
export function updateStep<S extends StepShape, G extends GraphShape<S>>(
  graph: G,
  id: string,
  change: (step: S) => S,
): G {
  return {
    ...graph,
    steps: graph.steps.map((step) => (step.id === id ? withFittedOutputs(change(step)) : step)),
  };
}

/** The graph without the steps in `ids`; outputs that led to them now end the path. */
export function removeSteps<S extends StepShape, G extends GraphShape<S>>(graph: G, ids: readonly string[]): G {
  const gone = new Set(ids);
  const steps = graph.steps
    .filter((step) => !gone.has(step.id))
    .map((step) => {
      const outputs = step.outputs ?? {};
      if (!Object.values(outputs).some((target) => target !== null && gone.has(target))) return step;
      const kept: Record<string, string | null> = {};
      for (const [name, target] of Object.entries(outputs)) kept[name] = target !== null && gone.has(target) ? null : target;
      return { ...step, outputs: kept };
    });
  return { ...graph, start: graph.start !== null && gone.has(graph.start) ? null : graph.start, steps };
}

/** Whether output `output` of `source` (a step, or the trigger) may lead to `target`: not to the
 * trigger, not to itself, and not when `target` already leads back to `source` (flows cannot loop). */
export function canConnect(graph: GraphShape, source: string, target: string): boolean {
  if (target === TRIGGER_NODE || source === target) return false;
  if (!graph.steps.some((step) => step.id === target)) return false;
  if (source === TRIGGER_NODE) return true;
  return !reaches(graph, target, source);
}

function reaches(graph: GraphShape, from: string, to: string): boolean {
  const byId = stepsById(graph);
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const target of Object.values(byId.get(id)?.outputs ?? {})) if (target !== null) stack.push(target);
  }
  return false;
}

/** The graph with output `output` of `source` leading to `target` (the trigger's output is
 * `start`); unchanged when the connection is not allowed. */
export function connect<G extends GraphShape>(graph: G, source: string, output: string, target: string): G {
  if (!canConnect(graph, source, target)) return graph;
  return setOutput(graph, source, output, target);
}

/** The graph with output `output` of `source` ending the path. */
export function disconnect<G extends GraphShape>(graph: G, source: string, output: string): G {
  return setOutput(graph, source, output, null);
}

function setOutput<G extends GraphShape>(graph: G, source: string, output: string, target: string | null): G {
  if (source === TRIGGER_NODE) return { ...graph, start: target };
  return {
    ...graph,
    steps: graph.steps.map((step) =>
      step.id === source && outputNames(step).includes(output)
        ? { ...step, outputs: { ...(step.outputs ?? {}), [output]: target } }
        : step,
    ),
  };
}

function stepsById<S extends StepShape>(graph: GraphShape<S>): Map<string, S> {
  return new Map(graph.steps.map((step) => [step.id, step]));
}

// --- The canvas ----------------------------------------------------------------------------------

/** A connection as the canvas draws it: from an output of a node to another node. */
export interface CanvasEdge {
  id: string;
  source: string;
  sourceHandle: string;
  target: string;
  /** The output's name where a step has several (yes/no, a branch); none for `next`. */
  label?: string;
}

export interface CanvasNode<S extends StepShape> {
  id: string;
  position: Point;
  /** The trigger, or the step the node draws. */
  step: S | null;
}

export function edgeId(source: string, output: string): string {
  return `${source}:${output}`;
}

/** Where an edge comes from: its source node and output (edge ids are `source:output`). */
export function parseEdgeId(id: string): { source: string; output: string } {
  const at = id.lastIndexOf(":");
  return { source: id.slice(0, at), output: id.slice(at + 1) };
}

/** The nodes (the trigger, then every step, at its place in `layout`, else where auto-layout
 * puts it) and the edges (each output that leads to a step). */
export function toCanvas<S extends StepShape>(
  graph: GraphShape<S>,
  layout: Layout,
): { nodes: CanvasNode<S>[]; edges: CanvasEdge[] } {
  const placed = completeLayout(graph, layout);
  const nodes: CanvasNode<S>[] = [
    { id: TRIGGER_NODE, position: placed[TRIGGER_NODE]!, step: null },
    ...graph.steps.map((step) => ({ id: step.id, position: placed[step.id]!, step })),
  ];
  const ids = new Set(graph.steps.map((step) => step.id));
  const edges: CanvasEdge[] = [];
  if (graph.start !== null && ids.has(graph.start)) {
    edges.push({ id: edgeId(TRIGGER_NODE, NEXT), source: TRIGGER_NODE, sourceHandle: NEXT, target: graph.start });
  }
  for (const step of graph.steps) {
    const names = outputNames(step);
    for (const name of names) {
      const target = step.outputs?.[name] ?? null;
      if (target === null || !ids.has(target)) continue;
      const edge: CanvasEdge = { id: edgeId(step.id, name), source: step.id, sourceHandle: name, target };
      if (names.length > 1) edge.label = name;
      edges.push(edge);
    }
  }
  return { nodes, edges };
}

// --- Auto-layout ---------------------------------------------------------------------------------

export const COLUMN_WIDTH = 280;
export const ROW_HEIGHT = 170;

/**
 * A tidy top-down layout: the trigger on top, each step one row below the lowest step that leads
 * to it (so every connection points down), the outputs of a step side by side under it in output
 * order, each parent centred over its children. Steps nothing leads to stand in a column of their
 * own to the right, so that they are easy to find and connect.
 */
export function autoLayout(graph: GraphShape): Layout {
  const byId = stepsById(graph);
  const children = (id: string): string[] => {
    if (id === TRIGGER_NODE) return graph.start !== null && byId.has(graph.start) ? [graph.start] : [];
    const step = byId.get(id);
    if (!step) return [];
    return outputNames(step)
      .map((name) => step.outputs?.[name] ?? null)
      .filter((target): target is string => target !== null && byId.has(target));
  };

  // Rows: the longest path from the trigger (a DAG; a loop, which the API refuses, is cut).
  const row = new Map<string, number>([[TRIGGER_NODE, 0]]);
  const order = topologicalOrder(TRIGGER_NODE, children);
  for (const id of order) {
    for (const child of children(id)) row.set(child, Math.max(row.get(child) ?? 0, row.get(id)! + 1));
  }
  // Each step hangs under one parent: the first (in order) that sits in the row just above it.
  const treeChildren = new Map<string, string[]>();
  const adopted = new Set<string>();
  for (const id of order) {
    for (const child of children(id)) {
      if (adopted.has(child) || row.get(child) !== row.get(id)! + 1) continue;
      adopted.add(child);
      treeChildren.set(id, [...(treeChildren.get(id) ?? []), child]);
    }
  }
  const column = new Map<string, number>();
  let nextLeaf = 0;
  const place = (id: string): number => {
    const kids = treeChildren.get(id) ?? [];
    let x: number;
    if (kids.length === 0) {
      x = nextLeaf;
      nextLeaf += 1;
    } else {
      const xs = kids.map(place);
      x = (xs[0]! + xs[xs.length - 1]!) / 2;
    }
    column.set(id, x);
    return x;
  };
  place(TRIGGER_NODE);

  const layout: Layout = {};
  for (const [id, x] of column) layout[id] = { x: x * COLUMN_WIDTH, y: row.get(id)! * ROW_HEIGHT };
  const unplaced = graph.steps.filter((step) => !column.has(step.id));
  unplaced.forEach((step, index) => {
    layout[step.id] = { x: (nextLeaf + 0.5) * COLUMN_WIDTH, y: (index + 1) * ROW_HEIGHT };
  });
  return layout;
}

/** Ids reachable from `root`, each after every node that leads to it (cycles are cut). */
function topologicalOrder(root: string, children: (id: string) => string[]): string[] {
  const done = new Set<string>();
  const onPath = new Set<string>();
  const reversed: string[] = [];
  // Iterative depth-first search: a long chain of steps must not exhaust the call stack.
  const stack: { id: string; next: number }[] = [{ id: root, next: 0 }];
  onPath.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const kids = children(top.id);
    if (top.next === kids.length) {
      stack.pop();
      onPath.delete(top.id);
      done.add(top.id);
      reversed.push(top.id);
      continue;
    }
    const child = kids[top.next]!;
    top.next += 1;
    if (done.has(child) || onPath.has(child)) continue;
    onPath.add(child);
    stack.push({ id: child, next: 0 });
  }
  return reversed.reverse();
}

/** `layout` with a place for every node it lacks (where auto-layout would put it, moved below
 * everything already placed so that nothing lands on top of another node). */
export function completeLayout(graph: GraphShape, layout: Layout): Layout {
  const ids = [TRIGGER_NODE, ...graph.steps.map((step) => step.id)];
  const missing = ids.filter((id) => layout[id] === undefined);
  if (missing.length === 0) return layout;
  const auto = autoLayout(graph);
  if (missing.length === ids.length) return auto;
  const lowest = Math.max(...ids.filter((id) => layout[id] !== undefined).map((id) => layout[id]!.y));
  const complete: Layout = { ...layout };
  for (const id of missing) complete[id] = { x: auto[id]!.x, y: lowest + ROW_HEIGHT + auto[id]!.y };
  return complete;
}
