import { Code, Table, Text } from "@mantine/core";
import { formatValue } from "../lib/format";

/** Custom properties as a two-column table; values are text (objects as JSON), never HTML. */
export function PropertiesTable({
  properties,
  empty = "No properties.",
  caption,
}: {
  properties: Record<string, unknown>;
  empty?: string;
  caption: string;
}) {
  const entries = Object.entries(properties).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) {
    return (
      <Text c="dimmed" size="sm">
        {empty}
      </Text>
    );
  }
  return (
    <Table.ScrollContainer minWidth={360}>
      <Table verticalSpacing={6} layout="fixed" aria-label={caption}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th w="35%">Property</Table.Th>
            <Table.Th>Value</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {entries.map(([name, value]) => (
            <Table.Tr key={name}>
              <Table.Td style={{ wordBreak: "break-word" }}>
                <Text size="sm" fw={500}>
                  {name}
                </Text>
              </Table.Td>
              <Table.Td style={{ wordBreak: "break-word" }}>
                {value !== null && typeof value === "object" ? (
                  <Code block fz="xs">
                    {formatValue(value)}
                  </Code>
                ) : (
                  <Text size="sm">{formatValue(value)}</Text>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
