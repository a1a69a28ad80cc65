import { Anchor, Button, Paper, Table, Text } from "@mantine/core";
import { IconFilter, IconPlus } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { Segment } from "../../api/client";
import { segmentsQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { formatCount } from "../../lib/format";
import { SegmentStatusBadge } from "./SegmentStatusBadge";

export function SegmentsPage() {
  const segments = useQuery({
    ...segmentsQuery,
    // While any segment is being computed, its size and status are followed.
    refetchInterval: (query) => (query.state.data?.data.some((s) => s.status === "computing") ? 2000 : false),
  });
  const newButton = (
    <Button component={Link} to="/segments/new" leftSection={<IconPlus size={16} aria-hidden />}>
      New segment
    </Button>
  );
  return (
    <>
      <PageHeader
        title="Segments"
        description="Groups of profiles by their properties, the events they did, consent and other segments. Members stay up to date as data arrives."
        actions={segments.data && segments.data.data.length > 0 ? newButton : undefined}
      />
      {segments.isPending ? (
        <LoadingState label="Loading segments…" />
      ) : segments.isError ? (
        <ErrorState error={segments.error} onRetry={() => void segments.refetch()} />
      ) : segments.data.data.length === 0 ? (
        <EmptyState title="No segments yet" icon={<IconFilter aria-hidden />} action={newButton}>
          A segment is a saved set of conditions, such as “placed an order in the last 30 days and lives in
          Berlin”. Herald keeps its members up to date.
        </EmptyState>
      ) : (
        <Paper withBorder>
          <SegmentsTable segments={segments.data.data} />
        </Paper>
      )}
    </>
  );
}

function SegmentsTable({ segments }: { segments: Segment[] }) {
  return (
    <Table.ScrollContainer minWidth={640}>
      <Table highlightOnHover verticalSpacing="sm" aria-label="Segments">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th ta="right">Members</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Last computed</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
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
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
