import { Table, Text, UnstyledButton } from "@mantine/core";
import type { Metric } from "../../api/client";
import { DataTable, DateCell } from "../../components/DataTable";
import { formatCount } from "../../lib/format";

/** Every event name with its count and when it was last seen; a name filters the stream. */
export function MetricsTable({
  metrics,
  selected,
  onSelect,
}: {
  metrics: Metric[];
  selected: string | null;
  onSelect: (name: string | null) => void;
}) {
  const sorted = [...metrics].sort((a, b) => b.last_seen_at.localeCompare(a.last_seen_at));
  return (
    <DataTable
      label="Event names"
      minWidth={380}
      verticalSpacing="xs"
      columns={["Name", { label: "Count", ta: "right" }, "Last seen"]}
    >
      {sorted.map((metric) => {
        const active = metric.name === selected;
        return (
          <Table.Tr key={metric.name} bg={active ? "blue.0" : undefined}>
            <Table.Td>
              <UnstyledButton
                onClick={() => onSelect(active ? null : metric.name)}
                aria-pressed={active}
                title={active ? "Show all events" : `Show only ${metric.name}`}
              >
                <Text size="sm" fw={500} c="blue.8" td={active ? "underline" : undefined}>
                  {metric.name}
                </Text>
              </UnstyledButton>
            </Table.Td>
            <Table.Td ta="right">
              <Text size="sm">{formatCount(metric.event_count)}</Text>
            </Table.Td>
            <DateCell value={metric.last_seen_at} relative />
          </Table.Tr>
        );
      })}
    </DataTable>
  );
}
