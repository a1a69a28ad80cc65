/** The canvas's nodes: the trigger on top, and one card per step with a handle per output. */
import { Badge, Group, Paper, Stack, Text, Tooltip } from "@mantine/core";
import {
  IconAlertTriangle,
  IconArrowsSplit,
  IconBolt,
  IconClockHour4,
  IconDoorExit,
  IconHourglass,
  IconMail,
  IconMessage,
  IconArrowsShuffle,
  IconUserEdit,
  IconWebhook,
  IconFilter,
  type Icon,
} from "@tabler/icons-react";
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import { formatCount } from "../../lib/format";
import { stepKind } from "./steps";

export const STEP_ICONS: Record<string, Icon> = {
  delay: IconClockHour4,
  wait: IconHourglass,
  conditional_split: IconArrowsSplit,
  trigger_split: IconFilter,
  random_split: IconArrowsShuffle,
  send_email: IconMail,
  send_sms: IconMessage,
  update_profile: IconUserEdit,
  webhook: IconWebhook,
  exit: IconDoorExit,
};

export interface TriggerNodeData extends Record<string, unknown> {
  summary: string;
  entered: number | null;
  problems: number;
}

export interface StepNodeData extends Record<string, unknown> {
  stepType: string;
  name: string | null;
  summary: string;
  outputs: string[];
  /** Enrolments at this step now (a delay counting down, or waiting), when results are shown. */
  here: number | null;
  /** How often each output was taken. */
  taken: Record<string, number>;
  problems: number;
}

export type TriggerNodeType = Node<TriggerNodeData, "trigger">;
export type StepNodeType = Node<StepNodeData, "step">;

const NODE_WIDTH = 230;

/** How often an output was taken: a wait's "no" is recorded as its timeout. */
function takenBy(data: StepNodeData, output: string): number {
  if (data.stepType === "wait" && output === "no") return (data.taken["no"] ?? 0) + (data.taken["timed out"] ?? 0);
  return data.taken[output] ?? 0;
}

function Problems({ count }: { count: number }) {
  if (count === 0) return null;
  return (
    <Tooltip label="Select the step to see what to fix">
      <Badge color="red" size="sm" leftSection={<IconAlertTriangle size={12} aria-hidden />} data-testid="step-problems">
        {count} to fix
      </Badge>
    </Tooltip>
  );
}

/** What came of the step so far: a message's sent, deferred (an SMS held for quiet hours) and
 * skipped, otherwise how many went past it (a split's counts stand by its outputs). */
function RunCounts({ stepType, outputs, taken }: { stepType: string; outputs: string[]; taken: Record<string, number> }) {
  const total = Object.values(taken).reduce((sum, n) => sum + n, 0);
  if (stepType === "send_email" || stepType === "send_sms") {
    return (
      <>
        <Badge variant="light" color="teal" size="sm" data-testid="count-sent">
          {formatCount(taken.sent ?? 0)} sent
        </Badge>
        {(taken.deferred ?? 0) > 0 && (
          <Badge variant="light" color="yellow" size="sm" data-testid="count-deferred">
            {formatCount(taken.deferred ?? 0)} deferred
          </Badge>
        )}
        {(taken.skipped ?? 0) > 0 && (
          <Badge variant="light" color="gray" size="sm" data-testid="count-skipped">
            {formatCount(taken.skipped ?? 0)} skipped
          </Badge>
        )}
        {(taken.draft ?? 0) > 0 && (
          <Badge variant="light" color="gray" size="sm">
            {formatCount(taken.draft ?? 0)} draft
          </Badge>
        )}
      </>
    );
  }
  if (outputs.length > 1) return null;
  return (
    <Badge variant="light" color="gray" size="sm" data-testid="count-passed">
      {formatCount(total)} {stepType === "exit" ? "exited" : "passed"}
    </Badge>
  );
}

export function TriggerNode({ data, selected }: NodeProps<TriggerNodeType>) {
  return (
    <Paper
      withBorder
      shadow={selected ? "md" : "xs"}
      p="xs"
      w={NODE_WIDTH}
      aria-label="Trigger"
      data-testid="flow-node-trigger"
      style={{ borderColor: selected ? "var(--mantine-color-blue-6)" : "var(--mantine-color-violet-4)", borderWidth: 2 }}
    >
      <Stack gap={4}>
        <Group gap={6} wrap="nowrap">
          <IconBolt size={16} aria-hidden color="var(--mantine-color-violet-6)" />
          <Text size="sm" fw={600}>
            Trigger
          </Text>
          <Problems count={data.problems} />
        </Group>
        <Text size="xs" c="dimmed" lineClamp={2}>
          {data.summary}
        </Text>
        {data.entered !== null && (
          <Badge variant="light" color="violet" size="sm" data-testid="count-entered">
            {formatCount(data.entered)} entered
          </Badge>
        )}
      </Stack>
      <Handle type="source" position={Position.Bottom} id="next" aria-label="Trigger output" />
    </Paper>
  );
}

export function StepNode({ id, data, selected }: NodeProps<StepNodeType>) {
  const kind = stepKind(data.stepType);
  const StepIcon = STEP_ICONS[data.stepType] ?? IconBolt;
  const several = data.outputs.length > 1;
  return (
    <Paper
      withBorder
      shadow={selected ? "md" : "xs"}
      p="xs"
      pb={several ? "lg" : "xs"}
      w={NODE_WIDTH}
      aria-label={`Step ${data.name || kind?.label || data.stepType}`}
      data-testid={`flow-node-${id}`}
      data-step-type={data.stepType}
      style={{
        borderColor: selected ? "var(--mantine-color-blue-6)" : data.problems ? "var(--mantine-color-red-5)" : undefined,
        borderWidth: selected || data.problems ? 2 : 1,
      }}
    >
      <Handle type="target" position={Position.Top} id="in" />
      <Stack gap={4}>
        <Group gap={6} wrap="nowrap" justify="space-between">
          <Group gap={6} wrap="nowrap" style={{ minWidth: 0 }}>
            <StepIcon size={16} aria-hidden />
            <Text size="sm" fw={600} truncate>
              {data.name || kind?.label || data.stepType}
            </Text>
          </Group>
          <Problems count={data.problems} />
        </Group>
        <Text size="xs" c="dimmed" lineClamp={2} style={{ overflowWrap: "anywhere" }}>
          {data.summary}
        </Text>
        {data.here !== null && (
          <Group gap={4}>
            <Badge variant="light" size="sm" data-testid="count-here">
              {formatCount(data.here)} here now
            </Badge>
            <RunCounts stepType={data.stepType} outputs={data.outputs} taken={data.taken} />
          </Group>
        )}
      </Stack>
      {data.outputs.map((output, index) => {
        const left = `${((index + 1) / (data.outputs.length + 1)) * 100}%`;
        return (
          <div key={output}>
            {several && (
              <Text
                size="10px"
                c="dimmed"
                pos="absolute"
                bottom={4}
                style={{ left, transform: "translateX(-50%)", whiteSpace: "nowrap" }}
                data-testid={`output-${id}-${output}`}
              >
                {output}
                {data.here !== null ? ` · ${formatCount(takenBy(data, output))}` : ""}
              </Text>
            )}
            <Handle
              type="source"
              position={Position.Bottom}
              id={output}
              style={{ left }}
              aria-label={`Output ${output} of ${data.name || kind?.label || data.stepType}`}
              data-output={output}
            />
          </div>
        );
      })}
    </Paper>
  );
}

export const NODE_TYPES = { trigger: TriggerNode, step: StepNode };
