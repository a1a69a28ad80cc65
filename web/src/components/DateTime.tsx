import { Tooltip } from "@mantine/core";
import { formatDateTime, formatFullDateTime, formatPreciseDateTime, formatRelative } from "../lib/format";

/** A timestamp, shown short (or relative) with the full date on hover. */
export function DateTime({
  value,
  relative = false,
  seconds = false,
}: {
  value: string | null | undefined;
  relative?: boolean;
  seconds?: boolean;
}) {
  if (!value) return <span>—</span>;
  return (
    <Tooltip label={formatFullDateTime(value)} openDelay={400}>
      <time dateTime={value}>{relative ? formatRelative(value) : seconds ? formatPreciseDateTime(value) : formatDateTime(value)}</time>
    </Tooltip>
  );
}
