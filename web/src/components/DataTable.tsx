import { Table, Text, type MantineSpacing } from "@mantine/core";
import type { ReactNode } from "react";
import { DateTime } from "./DateTime";

/** A column heading: its text, or the text with alignment and width. */
export type Column = string | { label: ReactNode; ta?: "left" | "right"; w?: number | string };

/**
 * The table of a list screen: scrolls sideways below `minWidth`, rows highlight on hover, and
 * the headings come from `columns` (a `false` entry is a column not shown). The rows are children.
 */
export function DataTable({
  label,
  minWidth,
  columns,
  verticalSpacing = "sm",
  children,
}: {
  label: string;
  minWidth: number;
  columns: readonly (Column | false)[];
  verticalSpacing?: MantineSpacing;
  children: ReactNode;
}) {
  return (
    <Table.ScrollContainer minWidth={minWidth}>
      <Table highlightOnHover verticalSpacing={verticalSpacing} aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            {columns.map((column, index) =>
              column === false ? null : typeof column === "string" ? (
                <Table.Th key={index}>{column}</Table.Th>
              ) : (
                <Table.Th key={index} ta={column.ta} w={column.w}>
                  {column.label}
                </Table.Th>
              ),
            )}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>{children}</Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** A table cell holding a timestamp. */
export function DateCell({ value, relative = false }: { value: string | null | undefined; relative?: boolean }) {
  return (
    <Table.Td>
      <Text size="sm">
        <DateTime value={value} relative={relative} />
      </Text>
    </Table.Td>
  );
}
