import { Anchor, Table, Text } from "@mantine/core";
import { IconFilter } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { Segment } from "../../api/client";
import { segmentsQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { DataTable } from "../../components/DataTable";
import { NewButton } from "../../components/NewButton";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { formatCount } from "../../lib/format";
import { SegmentStatusBadge } from "./SegmentStatusBadge";

export function SegmentsPage() {
  const segments = useQuery({
    ...segmentsQuery,
    // While any segment is being computed, its size and status are followed.
    refetchInterval: (query) => (query.state.data?.data.some((s) => s.status === "computing") ? 2000 : false),
  });
  const newButton = <NewButton to="/segments/new">New segment</NewButton>;
  return (
    <>
      <PageHeader
        title="Segments"
        description="Groups of profiles by their properties, the events they did, consent and other segments. Members stay up to date as data arrives."
        actions={segments.data && segments.data.data.length > 0 ? newButton : undefined}
      />
      <QueryList
        query={segments}
        loading="Loading segments…"
        empty={
          <EmptyState title="No segments yet" icon={<IconFilter aria-hidden />} action={newButton}>
            A segment is a saved set of conditions, such as “placed an order in the last 30 days and lives in
            Berlin”. Herald keeps its members up to date.
          </EmptyState>
        }
      >
        {(items) => <SegmentsTable segments={items} />}
      </QueryList>
    </>
  );
}

function SegmentsTable({ segments }: { segments: Segment[] }) {
  return (
    <DataTable
      label="Segments"
      minWidth={640}
      columns={["Name", { label: "Members", ta: "right" }, "Status", "Last computed"]}
    >
      {segments.map((segment) => (
        <Table.Tr key={segment.id}>
          <Table.Td>
            <Anchor component={Link} to={`/segments/${segment.id}`} fw={500}>
              {segment.name}
            </Anchor>
            {segment.description && (
              <Text size="xs" c="dimmed" lineClamp={1}>
                {segment.description}
              </Text>
            )}
          </Table.Td>
          <Table.Td ta="right">
            <Text size="sm">{formatCount(segment.member_count)}</Text>
          </Table.Td>
          <Table.Td>
            <SegmentStatusBadge segment={segment} />
          </Table.Td>
          <Table.Td>
            <Text size="sm">
              {segment.computed_at ? <DateTime value={segment.computed_at} relative /> : "Not yet"}
            </Text>
          </Table.Td>
        </Table.Tr>
      ))}
    </DataTable>
  );
}
