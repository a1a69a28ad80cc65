/** An import's row problems on screen: the first of them as a table, with how many there are. */
import { Button, Modal, Stack, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { Import } from "../../api/client";
import { importErrorRowsQuery } from "../../api/queries";
import { QueryResult } from "../../components/QueryResult";
import { errorCount } from "./summary";

export const SHOWN_ERRORS = 50;

export function ImportErrorsButton({ item }: { item: Import }) {
  const [open, setOpen] = useState(false);
  const name = item.filename || "this import";
  return (
    <>
      <Button size="compact-sm" variant="subtle" color="red" onClick={() => setOpen(true)} aria-label={`Show the errors of ${name}`}>
        Show errors
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={`Rows not imported from ${name}`} size="xl">
        {open && <ImportErrorsTable item={item} />}
      </Modal>
    </>
  );
}

function ImportErrorsTable({ item }: { item: Import }) {
  const rows = useQuery(importErrorRowsQuery(item.id, SHOWN_ERRORS));
  const total = errorCount(item);
  const unit = item.type === "events" ? "Line" : "Row";
  return (
    <QueryResult query={rows} loading="Loading the errors…">
      {(data) => (
        <Stack gap="sm">
          <Text size="sm" c="dimmed" data-testid="import-error-summary">
            {data.data.length < total
              ? `The first ${data.data.length} of ${total} problems; download the errors for all of them.`
              : `${total} ${total === 1 ? "problem" : "problems"}.`}
          </Text>
          <Table fz="sm" aria-label="Import errors" striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{unit}</Table.Th>
                <Table.Th>Field</Table.Th>
                <Table.Th>Reason</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {data.data.map((row, index) => (
                <Table.Tr key={`${row.item}-${row.field}-${index}`}>
                  <Table.Td>{row.item}</Table.Td>
                  <Table.Td style={{ overflowWrap: "anywhere" }}>{row.field || "—"}</Table.Td>
                  <Table.Td style={{ overflowWrap: "anywhere" }}>{row.reason}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      )}
    </QueryResult>
  );
}
