import { Badge, Loader } from "@mantine/core";
import type { CampaignStatus } from "../../api/client";
import { CAMPAIGN_STATUS_COLORS, CAMPAIGN_STATUS_LABELS } from "./status";

export function CampaignStatusBadge({ status }: { status: CampaignStatus }) {
  const color = CAMPAIGN_STATUS_COLORS[status];
  return (
    <Badge
      variant="light"
      color={color}
      data-testid="campaign-status"
      leftSection={status === "sending" ? <Loader size={10} color={color} aria-hidden /> : undefined}
    >
      {CAMPAIGN_STATUS_LABELS[status]}
    </Badge>
  );
}
