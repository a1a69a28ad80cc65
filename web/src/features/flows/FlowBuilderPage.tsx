/** /flows/:flowId — the builder: the palette, the canvas, and the side panel of what is selected;
 * save, publish, pause, resume, archive; live counts on each step while the flow runs. */
import { Alert, Anchor, Box, Button, Group, Menu, Paper, ScrollArea, Stack, Text, Title, Tooltip, UnstyledButton } from "@mantine/core";
import { useHotkeys } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import {
  IconArchive,
  IconArrowBackUp,
  IconArrowForwardUp,
  IconChevronDown,
  IconCopy,
  IconDeviceFloppy,
  IconFlask,
  IconTrash,
  IconLayoutDistributeHorizontal,
  IconPlayerPause,
  IconPlayerPlay,
  IconRocket,
  IconUsers,
} from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import { flowQuery, flowResultsQuery, keys, segmentCatalogQuery, segmentsQuery, smsTemplatesQuery, templatesQuery } from "../../api/queries";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { QueryResult } from "../../components/QueryResult";
import { NotFoundState } from "../../components/States";
import { noFlowErrors, placeFlowErrors, type FlowErrors } from "./errors";
import { FlowCanvas, STEP_DRAG_TYPE } from "./FlowCanvas";
import { FlowStatusBadge } from "./FlowStatusBadge";
import { addStep, autoLayout, completeLayout, newStepId, removeSteps, ROW_HEIGHT, updateStep, type Point } from "./graph";
import { record, redo, startHistory, undo, type History } from "./history";
import { STEP_ICONS } from "./nodes";
import { isRunning, LIVE_REFRESH_MS } from "./status";
import { StepPanel, type PanelContext } from "./StepPanel";
import { newStep, STEP_KINDS, stepNamesOf, summarizeStep, summarizeTrigger } from "./steps";
import { TestFlowModal } from "./TestFlowModal";
import { FlowSettingsPanel, TriggerPanel } from "./TriggerPanel";
import { toDocument, type Flow, type FlowDocument, type StepType } from "./types";
import { useUnsavedChangesWarning } from "./useUnsavedChangesWarning";

export function FlowBuilderPage() {
  const { flowId = "" } = useParams();
  const flow = useQuery(flowQuery(flowId));
  return (
    <QueryResult query={flow} loading="Loading the flow…" notFound={<NotFoundState thing="flow" />}>
      {(data) => (
        <ReactFlowProvider key={data.id}>
          <FlowBuilder flow={data} />
        </ReactFlowProvider>
      )}
    </QueryResult>
  );
}

function sameDocument(a: FlowDocument, b: FlowDocument): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function FlowBuilder({ flow }: { flow: Flow }) {
  const queryClient = useQueryClient();
  const reactFlow = useReactFlow();
  const [history, setHistory] = useState<History<FlowDocument>>(() => startHistory(toDocument(flow)));
  const [saved, setSaved] = useState<FlowDocument>(history.present);
  const [errors, setErrors] = useState<FlowErrors>(noFlowErrors);
  const [selected, setSelected] = useState<string | null>(null);
  const [archiving, setArchiving] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [testing, setTesting] = useState(false);
  const navigate = useNavigate();
  const document = history.present;
  const { definition, layout } = document;
  const dirty = useMemo(() => !sameDocument(document, saved), [document, saved]);
  const readOnly = flow.status === "archived";
  useUnsavedChangesWarning(dirty);

  const catalog = useQuery(segmentCatalogQuery);
  const segments = useQuery(segmentsQuery);
  const templates = useQuery(templatesQuery);
  const smsTemplates = useQuery(smsTemplatesQuery);
  const hasRun = flow.version !== null;
  const results = useQuery({
    ...flowResultsQuery(flow.id),
    enabled: hasRun,
    refetchInterval: isRunning(flow.status) ? LIVE_REFRESH_MS : false,
  });

  const context: PanelContext = {
    catalog: catalog.data,
    segments: segments.data?.data ?? [],
    templates: templates.data?.data ?? [],
    smsTemplates: smsTemplates.data?.data ?? [],
    trigger: definition.trigger,
  };
  const summarize = useMemo(() => {
    const templateNames = new Map((templates.data?.data ?? []).map((t) => [t.id, t.name]));
    const smsTemplateNames = new Map((smsTemplates.data?.data ?? []).map((t) => [t.id, t.name]));
    const segmentNames = new Map((segments.data?.data ?? []).map((s) => [s.id, s.name]));
    return {
      trigger: summarizeTrigger(definition.trigger, (id) => segmentNames.get(id)),
      steps: Object.fromEntries(
        definition.steps.map((s) => [
          s.id,
          summarizeStep(
            s,
            (id) => templateNames.get(id),
            (id) => smsTemplateNames.get(id),
          ),
        ]),
      ),
    };
  }, [definition, templates.data, smsTemplates.data, segments.data]);

  const change = (next: FlowDocument, group: string | null = null) => setHistory((h) => record(h, next, group));

  const add = (type: string, position?: Point) => {
    const id = newStepId(definition, type);
    let place = position;
    if (!place) {
      // From the keyboard: under everything on the canvas.
      const placed = Object.values(completeLayout(definition, layout));
      place = { x: placed[0]?.x ?? 0, y: Math.max(0, ...placed.map((p) => p.y)) + ROW_HEIGHT };
    }
    change({ ...document, definition: addStep(definition, newStep(type as StepType, id)), layout: { ...layout, [id]: place } });
    setSelected(id);
  };

  const removeStep = (id: string) => {
    const nextLayout = { ...layout };
    delete nextLayout[id];
    change({ ...document, definition: removeSteps(definition, [id]), layout: nextLayout });
    setSelected(null);
  };

  const accept = (updated: Flow, as: FlowDocument) => {
    queryClient.setQueryData(keys.flow(flow.id), updated);
    void queryClient.invalidateQueries({ queryKey: keys.flowLists });
    void queryClient.invalidateQueries({ queryKey: keys.flowResults(flow.id) });
    setSaved(as);
    setErrors(noFlowErrors());
  };

  /** Errors about what was just changed are out of date: the canvas stops marking them (the
   * next save or publish says again whatever is still wrong). */
  const forget = (what: { step?: string; trigger?: boolean; settings?: boolean }) =>
    setErrors((current) => {
      if (what.step !== undefined && current.steps[what.step]) {
        const steps = { ...current.steps };
        delete steps[what.step];
        return { ...current, steps };
      }
      if (what.trigger && current.trigger.length > 0) return { ...current, trigger: [] };
      if (what.settings && (current.reentry.length > 0 || Object.keys(current.filters).length > 0)) {
        return { ...current, reentry: [], filters: {} };
      }
      return current;
    });

  const showProblems = (error: unknown, what: string) => {
    if (error instanceof ApiError && error.fields.length > 0) {
      setErrors(placeFlowErrors(error.fields, definition));
      notifications.show({ color: "red", title: `Not ${what}`, message: "Fix what the marked steps say, then try again." });
    } else {
      notifications.show({ color: "red", title: `Not ${what}`, message: errorMessage(error) });
    }
  };

  const save = async (): Promise<Flow> => {
    const body = { name: document.name, definition, layout: completeLayout(definition, layout) };
    const updated = await call(api.PATCH("/api/flows/{flow_id}", { params: { path: { flow_id: flow.id } }, body }));
    accept(updated, document);
    return updated;
  };

  const saving = useMutation({
    mutationFn: save,
    onSuccess: () => notifications.show({ color: "teal", message: "Saved." }),
    onError: (error) => showProblems(error, "saved"),
  });

  const useFlowAction = (path: "publish" | "pause" | "resume" | "archive", done: string) =>
    useMutation({
      mutationFn: async () => {
        if (path === "publish" && dirty) await save();
        return call(api.POST(`/api/flows/{flow_id}/${path}`, { params: { path: { flow_id: flow.id } } }));
      },
      onSuccess: (updated: Flow) => {
        accept(updated, document);
        setArchiving(false);
        notifications.show({ color: "teal", message: done });
      },
      onError: (error) => showProblems(error, path === "publish" ? "published" : "done"),
    });
  const publishing = useFlowAction("publish", "Published: the flow runs this version now.");
  const pausing = useFlowAction("pause", "Paused: enrolments wait where they are.");
  const resuming = useFlowAction("resume", "Resumed.");
  const archive = useFlowAction("archive", "Archived: its enrolments have ended.");

  const duplicate = useMutation({
    mutationFn: () => call(api.POST("/api/flows/{flow_id}/duplicate", { params: { path: { flow_id: flow.id } } })),
    onSuccess: (copy) => {
      void queryClient.invalidateQueries({ queryKey: keys.flowLists });
      notifications.show({ color: "teal", message: `Duplicated as “${copy.name}”.` });
      void navigate(`/flows/${copy.id}`);
    },
    onError: (error) => notifications.show({ color: "red", title: "Not duplicated", message: errorMessage(error) }),
  });
  const remove = useMutation({
    mutationFn: () => call(api.DELETE("/api/flows/{flow_id}", { params: { path: { flow_id: flow.id } } })),
    onSuccess: () => {
      setSaved(document);
      queryClient.removeQueries({ queryKey: keys.flow(flow.id) });
      void queryClient.invalidateQueries({ queryKey: keys.flowLists });
      notifications.show({ color: "teal", message: `Flow “${flow.name}” was deleted.` });
      void navigate("/flows");
    },
    onError: (error) => notifications.show({ color: "red", title: "Not deleted", message: errorMessage(error) }),
  });

  useHotkeys([
    ["mod+z", () => setHistory(undo)],
    ["mod+shift+z", () => setHistory(redo)],
    ["mod+y", () => setHistory(redo)],
  ]);

  const selectedStep = selected ? definition.steps.find((s) => s.id === selected) : undefined;
  const busy = saving.isPending || publishing.isPending;

  return (
    <>
      <PageBreadcrumbs links={[{ to: "/flows", label: "Flows" }]} current={flow.name} />
      <PageHeader
        title={flow.name}
        actions={
          <>
            <Button component={Link} to={`/flows/${flow.id}/enrolments`} variant="default" leftSection={<IconUsers size={16} aria-hidden />}>
              Enrolments
            </Button>
            <Tooltip label="Save first: the test runs the saved draft" disabled={!dirty}>
              <Button variant="default" leftSection={<IconFlask size={16} aria-hidden />} disabled={dirty} onClick={() => setTesting(true)}>
                Test
              </Button>
            </Tooltip>
            <Menu position="bottom-end">
              <Menu.Target>
                <Button variant="default" rightSection={<IconChevronDown size={14} aria-hidden />}>
                  More
                </Button>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Item leftSection={<IconCopy size={14} aria-hidden />} onClick={() => duplicate.mutate()}>
                  Duplicate
                </Menu.Item>
                {flow.status === "draft" && (
                  <Menu.Item color="red" leftSection={<IconTrash size={14} aria-hidden />} onClick={() => setDeleting(true)}>
                    Delete draft
                  </Menu.Item>
                )}
              </Menu.Dropdown>
            </Menu>
            {!readOnly && (
              <Button
                variant="default"
                leftSection={<IconDeviceFloppy size={16} aria-hidden />}
                disabled={!dirty}
                loading={saving.isPending}
                onClick={() => saving.mutate()}
              >
                Save
              </Button>
            )}
            {!readOnly && (flow.status === "draft" || flow.has_unpublished_changes || dirty) && (
              <Button leftSection={<IconRocket size={16} aria-hidden />} loading={publishing.isPending} disabled={busy && !publishing.isPending} onClick={() => publishing.mutate()}>
                Publish
              </Button>
            )}
            {flow.status === "live" && (
              <Button variant="default" leftSection={<IconPlayerPause size={16} aria-hidden />} loading={pausing.isPending} onClick={() => pausing.mutate()}>
                Pause
              </Button>
            )}
            {flow.status === "paused" && (
              <Button variant="default" leftSection={<IconPlayerPlay size={16} aria-hidden />} loading={resuming.isPending} onClick={() => resuming.mutate()}>
                Resume
              </Button>
            )}
            {!readOnly && flow.status !== "draft" && (
              <Button variant="default" color="red" leftSection={<IconArchive size={16} aria-hidden />} onClick={() => setArchiving(true)}>
                Archive
              </Button>
            )}
          </>
        }
      />
      <Group gap="sm" mb="sm">
        <FlowStatusBadge status={flow.status} />
        {flow.version !== null && (
          <Text size="sm" c="dimmed">
            Version {flow.version}
          </Text>
        )}
        {dirty && (
          <Text size="sm" c="orange" data-testid="unsaved">
            Unsaved changes
          </Text>
        )}
        {!dirty && flow.has_unpublished_changes && flow.status !== "draft" && (
          <Text size="sm" c="dimmed">
            Saved changes not published yet
          </Text>
        )}
      </Group>
      {flow.status === "live" && (flow.has_unpublished_changes || dirty) && (
        <Alert color="blue" variant="light" mb="sm" p="xs">
          The flow keeps running version {flow.version} until you publish these changes.
        </Alert>
      )}
      <Box style={{ display: "grid", gridTemplateColumns: "170px minmax(0, 1fr) 380px", gap: "var(--mantine-spacing-sm)" }}>
        <Palette onAdd={(type) => add(type)} disabled={readOnly} />
        <Paper withBorder h="calc(100vh - 240px)" mih={480} pos="relative" style={{ overflow: "hidden" }}>
          <CanvasToolbar
            canUndo={history.past.length > 0 && !readOnly}
            canRedo={history.future.length > 0 && !readOnly}
            onUndo={() => setHistory(undo)}
            onRedo={() => setHistory(redo)}
            onLayout={() => {
              change({ ...document, layout: autoLayout(definition) });
              window.setTimeout(() => void reactFlow.fitView({ maxZoom: 1, duration: 200 }), 50);
            }}
            readOnly={readOnly}
          />
          <FlowCanvas
            document={document}
            onChange={(next) => change(next)}
            onAddStep={add}
            selected={selected}
            onSelect={setSelected}
            readOnly={readOnly}
            results={hasRun ? results.data : undefined}
            errors={errors}
            summarize={summarize}
          />
        </Paper>
        <Paper withBorder p="sm" h="calc(100vh - 240px)" mih={480}>
          <ScrollArea h="100%" offsetScrollbars>
            {selected === "trigger" ? (
              <TriggerPanel
                trigger={definition.trigger}
                onChange={(trigger, group) => {
                  change({ ...document, definition: { ...definition, trigger } }, group ? `trigger:${group}` : null);
                  forget({ trigger: true });
                }}
                errors={errors.trigger}
                context={context}
                readOnly={readOnly}
                flowId={flow.id}
              />
            ) : selectedStep ? (
              <StepPanel
                key={selectedStep.id}
                step={selectedStep}
                onChange={(next, group) => {
                  change({ ...document, definition: updateStep(definition, selectedStep.id, () => next) }, group ? `${selectedStep.id}:${group}` : null);
                  forget({ step: selectedStep.id });
                }}
                onDelete={() => removeStep(selectedStep.id)}
                errors={errors.steps[selectedStep.id]}
                context={context}
                readOnly={readOnly}
              />
            ) : (
              <FlowSettingsPanel
                name={document.name}
                onName={(name) => change({ ...document, name }, "name")}
                definition={definition}
                onChange={(next, group) => {
                  change({ ...document, definition: { ...next, steps: definition.steps } }, group ? `flow:${group}` : null);
                  forget({ settings: true });
                }}
                errors={errors}
                context={context}
                readOnly={readOnly}
              />
            )}
          </ScrollArea>
        </Paper>
      </Box>
      {hasRun && results.data && (
        <Text size="xs" c="dimmed" mt="xs" data-testid="flow-totals">
          Last 30 days: {results.data.entered} entered, {results.data.active + results.data.waiting} in the flow now, {results.data.completed} completed,{" "}
          {Object.values(results.data.exited).reduce((a, b) => a + b, 0)} exited, {results.data.messages.sent} emails sent.
        </Text>
      )}
      <TestFlowModal flowId={flow.id} opened={testing} onClose={() => setTesting(false)} stepNames={stepNamesOf(flow)} />
      <ConfirmDialog
        opened={deleting}
        title="Delete this draft?"
        confirmLabel="Delete"
        onConfirm={() => remove.mutate()}
        onCancel={() => setDeleting(false)}
        busy={remove.isPending}
      >
        The flow has never been published; deleting it cannot be undone.
      </ConfirmDialog>
      <ConfirmDialog
        opened={archiving}
        title="Archive this flow?"
        confirmLabel="Archive"
        onConfirm={() => archive.mutate()}
        onCancel={() => setArchiving(false)}
        busy={archive.isPending}
      >
        Everyone in it leaves the flow now, and nobody enters again. An archived flow cannot be published again (duplicate it
        instead).
      </ConfirmDialog>
    </>
  );
}

function CanvasToolbar({
  canUndo,
  canRedo,
  onUndo,
  onRedo,
  onLayout,
  readOnly,
}: {
  canUndo: boolean;
  canRedo: boolean;
  onUndo: () => void;
  onRedo: () => void;
  onLayout: () => void;
  readOnly: boolean;
}) {
  return (
    <Group gap={4} pos="absolute" top={8} left={8} style={{ zIndex: 5 }}>
      <Tooltip label="Undo (Ctrl+Z)">
        <Button size="compact-sm" variant="default" aria-label="Undo" disabled={!canUndo} onClick={onUndo}>
          <IconArrowBackUp size={16} aria-hidden />
        </Button>
      </Tooltip>
      <Tooltip label="Redo (Ctrl+Shift+Z)">
        <Button size="compact-sm" variant="default" aria-label="Redo" disabled={!canRedo} onClick={onRedo}>
          <IconArrowForwardUp size={16} aria-hidden />
        </Button>
      </Tooltip>
      <Button
        size="compact-sm"
        variant="default"
        leftSection={<IconLayoutDistributeHorizontal size={16} aria-hidden />}
        disabled={readOnly}
        onClick={onLayout}
      >
        Auto-layout
      </Button>
    </Group>
  );
}

/** The steps to drag onto the canvas (or click, to add one under the others). */
function Palette({ onAdd, disabled }: { onAdd: (type: string) => void; disabled: boolean }) {
  const groups = ["Timing", "Logic", "Actions"] as const;
  return (
    <Paper withBorder p="xs" component="nav" aria-label="Steps to add">
      <Stack gap="xs">
        <Title order={2} fz="sm">
          Steps
        </Title>
        <Text size="xs" c="dimmed">
          Drag onto the canvas, then connect an output to it.
        </Text>
        {groups.map((group) => (
          <Stack gap={4} key={group}>
            <Text size="xs" fw={700} c="dimmed" tt="uppercase">
              {group}
            </Text>
            {STEP_KINDS.filter((kind) => kind.group === group).map((kind) => {
              const StepIcon = STEP_ICONS[kind.type]!;
              return (
                <Tooltip key={kind.type} label={kind.description} position="right" openDelay={400}>
                  <UnstyledButton
                    draggable={!disabled}
                    disabled={disabled}
                    data-testid={`palette-${kind.type}`}
                    aria-label={`Add ${kind.label}`}
                    onDragStart={(event) => {
                      event.dataTransfer.setData(STEP_DRAG_TYPE, kind.type);
                      event.dataTransfer.effectAllowed = "move";
                    }}
                    onClick={() => onAdd(kind.type)}
                    style={{
                      border: "1px solid var(--mantine-color-gray-3)",
                      borderRadius: "var(--mantine-radius-sm)",
                      padding: "4px 8px",
                      cursor: disabled ? "not-allowed" : "grab",
                      background: "var(--mantine-color-body)",
                    }}
                  >
                    <Group gap={6} wrap="nowrap">
                      <StepIcon size={14} aria-hidden />
                      <Text size="xs">{kind.label}</Text>
                    </Group>
                  </UnstyledButton>
                </Tooltip>
              );
            })}
          </Stack>
        ))}
        <Anchor component={Link} to="/templates" size="xs">
          Email templates
        </Anchor>
      </Stack>
    </Paper>
  );
}
