import { Badge, Group } from "@mantine/core";
import type { TimelineEntry } from "../../api/client";
import { engagementLabels } from "./status";

/** A timeline message's opens, clicks, unsubscribes and bounces, as small badges. */
export function MessageEngagement({ entry }: { entry: TimelineEntry }) {
  const labels = engagementLabels(entry.engagement, String(entry.properties.channel ?? "email"));
  if (labels.length === 0) return null;
  return (
    <Group gap={4} mt={4} aria-label="Engagement">
      {labels.map(({ label, color }) => (
        <Badge key={label} size="xs" variant="light" color={color} tt="none">
          {label}
        </Badge>
      ))}
    </Group>
  );
}
