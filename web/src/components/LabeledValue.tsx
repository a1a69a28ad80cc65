import { Text } from "@mantine/core";
import type { ReactNode } from "react";

/** A small label over its value, for summaries laid out in a grid. Values are text, never HTML. */
export function LabeledValue({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div" style={{ overflowWrap: "anywhere" }}>
        {children}
      </Text>
    </div>
  );
}
