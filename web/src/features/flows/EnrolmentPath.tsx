/** One enrolment's path: the steps it took, when, and what came of each; then where it stands. */
import { Badge, Group, Text, Timeline } from "@mantine/core";
import { DateTime } from "../../components/DateTime";
import { formatValue } from "../../lib/format";
import { EnrolmentStatusBadge } from "./FlowStatusBadge";
import { stepKind } from "./steps";
import type { EnrolmentDetail } from "./types";

export function EnrolmentPath({ enrolment, stepNames }: { enrolment: EnrolmentDetail; stepNames?: Record<string, string> }) {
  const label = (id: string, type?: string) => stepNames?.[id] ?? `${stepKind(type ?? "")?.label ?? "Step"} (${id})`;
  const open = enrolment.status === "active" || enrolment.status === "waiting";
  return (
    <Timeline bulletSize={14} lineWidth={2} active={enrolment.history.length} aria-label="Path through the flow">
      <Timeline.Item title="Entered">
        <Text size="xs" c="dimmed">
          <DateTime value={enrolment.entered_at} /> · version {enrolment.version}
        </Text>
      </Timeline.Item>
      {enrolment.history.map((run, index) => (
        <Timeline.Item key={`${run.step_id}-${index}`} title={label(run.step_id, run.step_type)}>
          <Group gap={6}>
            <Badge size="xs" variant="light">
              {run.outcome}
            </Badge>
            <Text size="xs" c="dimmed">
              <DateTime value={run.at} />
            </Text>
          </Group>
          {Object.keys(run.detail).length > 0 && (
            <Text size="xs" c="dimmed" style={{ overflowWrap: "anywhere" }}>
              {Object.entries(run.detail)
                .map(([key, value]) => `${key}: ${formatValue(value)}`)
                .join(" · ")}
            </Text>
          )}
        </Timeline.Item>
      ))}
      <Timeline.Item title={open ? `Now at ${enrolment.current_step_id ? label(enrolment.current_step_id) : "the start"}` : "Ended"}>
        <Group gap={6}>
          <EnrolmentStatusBadge status={enrolment.status} />
          {enrolment.due_at && open && (
            <Text size="xs" c="dimmed">
              next step due <DateTime value={enrolment.due_at} relative />
            </Text>
          )}
          {enrolment.exit_reason && (
            <Text size="xs" c="dimmed" data-testid="exit-reason">
              {enrolment.exit_reason}
            </Text>
          )}
        </Group>
      </Timeline.Item>
    </Timeline>
  );
}
