import { Badge, Loader } from "@mantine/core";
import type { Segment } from "../../api/client";

export function SegmentStatusBadge({ segment }: { segment: Pick<Segment, "status"> }) {
  return segment.status === "computing" ? (
    <Badge variant="light" color="yellow" leftSection={<Loader size={10} color="yellow" aria-hidden />}>
      Computing
    </Badge>
  ) : (
    <Badge variant="light" color="teal">
      Ready
    </Badge>
  );
}
