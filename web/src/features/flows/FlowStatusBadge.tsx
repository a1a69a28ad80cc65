import { Badge } from "@mantine/core";
import { ENROLMENT_STATUS_COLORS, ENROLMENT_STATUS_LABELS, FLOW_STATUS_COLORS, FLOW_STATUS_LABELS } from "./status";
import type { EnrolmentStatus, FlowStatus } from "./types";

export function FlowStatusBadge({ status }: { status: FlowStatus }) {
  return (
    <Badge variant="light" color={FLOW_STATUS_COLORS[status]} data-testid="flow-status">
      {FLOW_STATUS_LABELS[status]}
    </Badge>
  );
}

export function EnrolmentStatusBadge({ status }: { status: EnrolmentStatus }) {
  return (
    <Badge variant="light" color={ENROLMENT_STATUS_COLORS[status]}>
      {ENROLMENT_STATUS_LABELS[status]}
    </Badge>
  );
}
