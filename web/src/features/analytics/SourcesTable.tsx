/** Campaigns or flows with their measures: sortable by any column, paged, exportable. */
import { Anchor, Group, Pagination, Paper, Stack, Table, Text, Title, UnstyledButton } from "@mantine/core";
import { IconArrowDown, IconArrowUp } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { DownloadButton } from "../../components/DownloadButton";
import { QueryResult } from "../../components/QueryResult";
import { csvHref, sourcesQuery, type DateRange, type SourceRow, type SourceSort } from "./api";
import { sourcePath } from "../messages/status";
import { formatMoney, formatRate } from "./format";

const PAGE = 10;

const COLUMNS: { key: SourceSort; label: string; show: (row: SourceRow, currency: string) => string }[] = [
  { key: "sent", label: "Sent", show: (row) => row.sent.toLocaleString() },
  { key: "open_rate", label: "Open rate", show: (row) => formatRate(row.open_rate) },
  { key: "click_rate", label: "Click rate", show: (row) => formatRate(row.click_rate) },
  { key: "click_to_open_rate", label: "Click-to-open", show: (row) => formatRate(row.click_to_open_rate) },
  { key: "unsubscribe_rate", label: "Unsubscribes", show: (row) => formatRate(row.unsubscribe_rate) },
  { key: "conversions", label: "Conversions", show: (row) => row.conversions.toLocaleString() },
  { key: "revenue", label: "Revenue", show: (row, currency) => formatMoney(row.revenue, currency) },
  {
    key: "revenue_per_recipient",
    label: "Per recipient",
    show: (row, currency) => formatMoney(row.revenue_per_recipient, currency),
  },
];

export function SourcesTable({ title, source, range }: { title: string; source: string; range: DateRange }) {
  const [sort, setSort] = useState<SourceSort>("revenue");
  const [order, setOrder] = useState<"asc" | "desc">("desc");
  const [page, setPage] = useState(1);
  const query = useQuery(sourcesQuery(range, { source, sort, order, limit: PAGE, offset: (page - 1) * PAGE }));
  const sortBy = (key: SourceSort) => {
    if (key === sort) setOrder(order === "desc" ? "asc" : "desc");
    else {
      setSort(key);
      setOrder("desc");
    }
    setPage(1);
  };
  const heading = (key: SourceSort, label: string, right = true) => (
    <Table.Th ta={right ? "right" : undefined} aria-sort={sort === key ? (order === "desc" ? "descending" : "ascending") : "none"}>
      <UnstyledButton onClick={() => sortBy(key)} fw={600} fz="sm">
        <Group gap={2} wrap="nowrap" justify={right ? "flex-end" : undefined}>
          {label}
          {sort === key && (order === "desc" ? <IconArrowDown size={14} aria-hidden /> : <IconArrowUp size={14} aria-hidden />)}
        </Group>
      </UnstyledButton>
    </Table.Th>
  );
  return (
    <Paper withBorder p="md" component="section" aria-label={title}>
      <Stack gap="sm">
        <Group justify="space-between">
          <Title order={2} fz="h4">
            {title}
          </Title>
          <DownloadButton href={csvHref("sources", { ...range, source, sort, order })}>Export CSV</DownloadButton>
        </Group>
        <QueryResult query={query} loading={`Loading ${title.toLowerCase()}…`}>
          {(table) =>
            table.data.length === 0 ? (
              <Text size="sm" c="dimmed">
                Nothing sent in this period.
              </Text>
            ) : (
              <>
                <Table.ScrollContainer minWidth={900}>
                  <Table highlightOnHover aria-label={title}>
                    <Table.Thead>
                      <Table.Tr>
                        {heading("name", "Name", false)}
                        {COLUMNS.map((column) => heading(column.key, column.label))}
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {table.data.map((row) => {
                        const path = sourcePath(row.source, row.source_id ?? null);
                        return (
                          <Table.Tr key={`${row.source_id}-${row.channel}`}>
                            <Table.Td>
                              {path ? (
                                <Anchor component={Link} to={path} fw={500}>
                                  {row.name}
                                </Anchor>
                              ) : (
                                row.name
                              )}
                              {row.channel !== "email" && (
                                <Text span size="xs" c="dimmed">
                                  {" "}
                                  ({row.channel})
                                </Text>
                              )}
                            </Table.Td>
                            {COLUMNS.map((column) => (
                              <Table.Td key={column.key} ta="right" data-column={column.key}>
                                {column.show(row, table.currency)}
                              </Table.Td>
                            ))}
                          </Table.Tr>
                        );
                      })}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
                {table.total > PAGE && (
                  <Pagination total={Math.ceil(table.total / PAGE)} value={page} onChange={setPage} size="sm" />
                )}
              </>
            )
          }
        </QueryResult>
      </Stack>
    </Paper>
  );
}
