import { Badge } from "@mantine/core";
import type { MessageStatus } from "../../api/client";
import { STATUS_COLORS, STATUS_LABELS } from "./status";

export function MessageStatusBadge({ status }: { status: MessageStatus }) {
  return (
    <Badge variant="light" color={STATUS_COLORS[status]} data-testid="message-status">
      {STATUS_LABELS[status]}
    </Badge>
  );
}
