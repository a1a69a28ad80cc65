/** The builder's canvas (React Flow): the trigger and the steps where the layout puts them,
 * connections from outputs to steps, steps dropped from the palette, zoom and fit. Every change
 * goes to `onChange` as a new document; the canvas keeps only what React Flow measures. */
import {
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useEffect, useMemo, useState, type DragEvent } from "react";
import { problemCount, type FlowErrors } from "./errors";
import {
  canConnect,
  connect,
  disconnect,
  outputNames,
  parseEdgeId,
  removeSteps,
  toCanvas,
  TRIGGER_NODE,
  type Point,
} from "./graph";
import { NODE_TYPES, type StepNodeData, type TriggerNodeData } from "./nodes";
import type { FlowDocument, FlowResults } from "./types";

/** What the palette puts in a drag: the step type. */
export const STEP_DRAG_TYPE = "application/x-herald-step";

export interface CanvasProps {
  document: FlowDocument;
  onChange: (next: FlowDocument) => void;
  onAddStep: (type: string, position: Point) => void;
  selected: string | null;
  onSelect: (id: string | null) => void;
  readOnly: boolean;
  results: FlowResults | undefined;
  errors: FlowErrors;
  summarize: { trigger: string; steps: Record<string, string> };
}

export function FlowCanvas({
  document,
  onChange,
  onAddStep,
  selected,
  onSelect,
  readOnly,
  results,
  errors,
  summarize,
}: CanvasProps) {
  const flow = useReactFlow();
  const { definition, layout } = document;
  const built = useMemo(() => {
    const canvas = toCanvas(definition, layout);
    const byStep = new Map((results?.steps ?? []).map((s) => [s.step_id, s]));
    const nodes: Node[] = canvas.nodes.map((node) => {
      if (node.step === null) {
        const data: TriggerNodeData = {
          summary: summarize.trigger,
          entered: results ? results.entered : null,
          problems: errors.trigger.length,
        };
        return { id: node.id, type: "trigger", position: node.position, data, deletable: false, selected: selected === node.id };
      }
      const figures = byStep.get(node.id);
      const data: StepNodeData = {
        stepType: node.step.type,
        name: node.step.name ?? null,
        summary: summarize.steps[node.id] ?? "",
        outputs: outputNames(node.step),
        here: results ? (figures ? figures.active + figures.waiting : 0) : null,
        taken: figures?.outcomes ?? {},
        problems: problemCount(errors.steps[node.id]),
      };
      return { id: node.id, type: "step", position: node.position, data, selected: selected === node.id };
    });
    const edges: Edge[] = canvas.edges.map((edge) => ({
      ...edge,
      targetHandle: "in",
      markerEnd: { type: MarkerType.ArrowClosed },
      labelBgPadding: [4, 2] as [number, number],
    }));
    return { nodes, edges };
  }, [definition, layout, results, errors, summarize, selected]);

  // React Flow measures each node and keeps the size on the node: rebuilt nodes keep theirs.
  const [nodes, setNodes] = useState<Node[]>(built.nodes);
  const [edges, setEdges] = useState<Edge[]>(built.edges);
  useEffect(() => {
    setNodes((previous) => {
      const measured = new Map(previous.map((n) => [n.id, n.measured]));
      return built.nodes.map((n) => ({ ...n, measured: measured.get(n.id) }));
    });
    setEdges((previous) => {
      const chosen = new Set(previous.filter((e) => e.selected).map((e) => e.id));
      return built.edges.map((e) => ({ ...e, selected: chosen.has(e.id) }));
    });
  }, [built]);

  const onNodesChange = (changes: NodeChange[]) => setNodes((current) => applyNodeChanges(changes, current));
  const onEdgesChange = (changes: EdgeChange[]) => setEdges((current) => applyEdgeChanges(changes, current));

  const onConnect = (connection: Connection) => {
    if (readOnly || !connection.sourceHandle) return;
    onChange({ ...document, definition: connect(definition, connection.source, connection.sourceHandle, connection.target) });
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    const type = event.dataTransfer.getData(STEP_DRAG_TYPE);
    if (!type || readOnly) return;
    onAddStep(type, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  };

  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={NODE_TYPES}
      onNodesChange={onNodesChange}
      onEdgesChange={onEdgesChange}
      onConnect={onConnect}
      isValidConnection={(connection) =>
        !readOnly && canConnect(definition, connection.source, connection.target) && connection.targetHandle !== null
      }
      onNodeClick={(_, node) => onSelect(node.id)}
      onPaneClick={() => onSelect(null)}
      onNodeDragStop={(_, __, dragged) => {
        if (readOnly) return;
        const moved = { ...layout };
        for (const node of dragged) moved[node.id] = { x: node.position.x, y: node.position.y };
        onChange({ ...document, layout: moved });
      }}
      onNodesDelete={(deleted) => {
        const ids = deleted.map((n) => n.id).filter((id) => id !== TRIGGER_NODE);
        if (readOnly || ids.length === 0) return;
        const nextLayout = { ...layout };
        for (const id of ids) delete nextLayout[id];
        onChange({ ...document, definition: removeSteps(definition, ids), layout: nextLayout });
        if (selected !== null && ids.includes(selected)) onSelect(null);
      }}
      onEdgesDelete={(deleted) => {
        if (readOnly) return;
        let next = definition;
        for (const edge of deleted) {
          const { source, output } = parseEdgeId(edge.id);
          next = disconnect(next, source, output);
        }
        onChange({ ...document, definition: next });
      }}
      onDragOver={(event) => {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
      }}
      onDrop={onDrop}
      nodesDraggable={!readOnly}
      nodesConnectable={!readOnly}
      deleteKeyCode={readOnly ? null : ["Backspace", "Delete"]}
      fitView
      fitViewOptions={{ maxZoom: 1 }}
      minZoom={0.2}
      proOptions={{ hideAttribution: true }}
      aria-label="Flow canvas"
    >
      <Background gap={20} />
      <Controls showInteractive={false} />
      <MiniMap pannable zoomable ariaLabel="Overview of the flow" />
    </ReactFlow>
  );
}
