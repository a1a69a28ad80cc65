/** One segment: its size and status, growth, members, and what can be done with it. */
import {
  Anchor,
  Badge,
  Button,
  Grid,
  Group,
  Paper,
  Progress,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Title,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconEdit, IconRefresh, IconTrash, IconUsers } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Profile, type Segment } from "../../api/client";
import { ApiError, errorMessage } from "../../api/errors";
import { jobQuery, keys, segmentGrowthQuery, segmentMembersQuery, segmentQuery } from "../../api/queries";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, DateCell } from "../../components/DataTable";
import { DateTime } from "../../components/DateTime";
import { DownloadButton } from "../../components/DownloadButton";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { QueryList, QueryResult } from "../../components/QueryResult";
import { EmptyState, LoadingState, NotFoundState } from "../../components/States";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { useCursorPages } from "../../components/useCursorPages";
import { formatCount, profileLabel } from "../../lib/format";
import { GrowthChart } from "./GrowthChart";
import { SegmentStatusBadge } from "./SegmentStatusBadge";

export function SegmentPage() {
  const { segmentId = "" } = useParams();
  const segment = useQuery({
    ...segmentQuery(segmentId),
    refetchInterval: (query) => (query.state.data?.status === "computing" ? 1500 : false),
  });
  return (
    <>
      <PageBreadcrumbs links={[{ to: "/segments", label: "Segments" }]} current={segment.data?.name ?? "Segment"} />
      <QueryResult
        query={segment}
        loading="Loading the segment…"
        notFound={<NotFoundState thing="segment" />}
      >
        {(data) => <SegmentDetails segment={data} />}
      </QueryResult>
    </>
  );
}

function SegmentDetails({ segment }: { segment: Segment }) {
  const queryClient = useQueryClient();
  const [deleting, setDeleting] = useState(false);
  // When a computation finishes, what depends on the members is read again.
  const previousStatus = useRef(segment.status);
  useEffect(() => {
    if (previousStatus.current === "computing" && segment.status === "ready") {
      void queryClient.invalidateQueries({ queryKey: ["segments", "members", segment.id] });
      void queryClient.invalidateQueries({ queryKey: ["segments", "growth", segment.id] });
      void queryClient.invalidateQueries({ queryKey: keys.segmentsAll, exact: true });
    }
    previousStatus.current = segment.status;
  }, [segment.status, segment.id, queryClient]);

  const recompute = useMutation({
    mutationFn: () =>
      call(api.POST("/api/segments/{segment_id}/recompute", { params: { path: { segment_id: segment.id } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.segment(segment.id) }),
    onError: (error) => {
      notifications.show({
        color: error instanceof ApiError && error.status === 409 ? "yellow" : "red",
        title: "Not recomputed",
        message: errorMessage(error),
      });
      void queryClient.invalidateQueries({ queryKey: keys.segment(segment.id) });
    },
  });

  return (
    <>
      <PageHeader
        title={segment.name}
        description={segment.description || undefined}
        actions={
          <>
            <Button component={Link} to={`/segments/${segment.id}/edit`} variant="default" leftSection={<IconEdit size={16} aria-hidden />}>
              Edit
            </Button>
            <Button
              variant="default"
              leftSection={<IconRefresh size={16} aria-hidden />}
              loading={recompute.isPending}
              disabled={segment.status === "computing"}
              onClick={() => recompute.mutate()}
            >
              Recompute
            </Button>
            <DownloadButton href={`/api/profiles/export?segment_id=${encodeURIComponent(segment.id)}`}>Export CSV</DownloadButton>
            <Button variant="subtle" color="red" leftSection={<IconTrash size={16} aria-hidden />} onClick={() => setDeleting(true)}>
              Delete
            </Button>
          </>
        }
      />
      <Grid gap="lg">
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Section title="Size">
            <SizeFacts segment={segment} />
          </Section>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 8 }}>
          <GrowthSection segmentId={segment.id} />
        </Grid.Col>
        <Grid.Col span={12}>
          <MembersSection segment={segment} />
        </Grid.Col>
      </Grid>
      <DeleteDialog segment={segment} opened={deleting} onClose={() => setDeleting(false)} />
    </>
  );
}

function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <Paper withBorder p="md" component="section" aria-label={title} h="100%">
      <Group justify="space-between" mb="sm">
        <Title order={2} fz="h4">
          {title}
        </Title>
        {actions}
      </Group>
      {children}
    </Paper>
  );
}

function SizeFacts({ segment }: { segment: Segment }) {
  return (
    <Stack gap="sm">
      <div>
        <Text fz={36} fw={700} lh={1.1} data-testid="member-count">
          {formatCount(segment.member_count)}
        </Text>
        <Text size="sm" c="dimmed">
          {segment.member_count === 1 ? "member" : "members"}
        </Text>
      </div>
      <Group gap="xs">
        <Text size="sm" c="dimmed">
          Status
        </Text>
        <SegmentStatusBadge segment={segment} />
      </Group>
      {segment.status === "computing" && segment.recompute_job_id && <JobProgress jobId={segment.recompute_job_id} />}
      <Text size="sm">
        <Text span c="dimmed">
          Last computed{" "}
        </Text>
        {segment.computed_at ? <DateTime value={segment.computed_at} relative /> : "not yet"}
      </Text>
      <Text size="xs" c="dimmed">
        {segment.time_relative
          ? "Membership depends on the time: Herald recomputes it every hour, and as data arrives."
          : "Members are kept up to date as profiles and events arrive."}
      </Text>
      {segment.metrics.length > 0 && (
        <Group gap={4}>
          <Text size="xs" c="dimmed">
            Looks at events:
          </Text>
          {segment.metrics.map((metric) => (
            <Badge key={metric} size="xs" variant="outline" color="gray" tt="none">
              {metric}
            </Badge>
          ))}
        </Group>
      )}
    </Stack>
  );
}

function JobProgress({ jobId }: { jobId: string }) {
  const job = useQuery({
    ...jobQuery(jobId),
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status === undefined || status === "pending" || status === "running" ? 1000 : false;
    },
  });
  const total = job.data?.progress_total ?? null;
  const done = job.data?.progress_done ?? 0;
  const percent = total ? Math.min(100, Math.round((done / total) * 100)) : 0;
  const label = job.data?.status === "pending" ? "Waiting to start…" : `Computing members… ${percent}%`;
  return (
    <Stack gap={4}>
      <Progress value={job.data?.status === "pending" ? 0 : percent} animated striped aria-label="Recompute progress" />
      <Text size="xs" c="dimmed">
        {label}
      </Text>
    </Stack>
  );
}

const PERIODS = [
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
];

function GrowthSection({ segmentId }: { segmentId: string }) {
  const [days, setDays] = useState(30);
  const growth = useQuery(segmentGrowthQuery(segmentId, days));
  return (
    <Section
      title="Growth"
      actions={
        <SegmentedControl
          size="xs"
          aria-label="Period"
          data={PERIODS}
          value={String(days)}
          onChange={(value) => setDays(Number(value))}
        />
      }
    >
      <QueryResult query={growth} loading="Loading the growth…">
        {(data) => <GrowthChart data={data.data} days={days} />}
      </QueryResult>
    </Section>
  );
}

function MembersSection({ segment }: { segment: Segment }) {
  const pages = useCursorPages();
  const members = useQuery(segmentMembersQuery(segment.id, pages.cursor));
  return (
    <Section title="Members">
      <QueryList
        query={members}
        loading="Loading members…"
        framed={false}
        pager={pages.pager}
        empty={
          segment.status === "computing" ? (
            <LoadingState label="Herald is computing the members…" />
          ) : (
            <EmptyState title="No members" icon={<IconUsers aria-hidden />}>
              Nobody matches this segment right now. Profiles join as soon as they match.
            </EmptyState>
          )
        }
      >
        {(items) => <MembersTable profiles={items} />}
      </QueryList>
    </Section>
  );
}

function MembersTable({ profiles }: { profiles: Profile[] }) {
  return (
    <DataTable label="Members" minWidth={640} columns={["Name", "Email", "Phone", "Created"]}>
      {profiles.map((profile) => (
        <Table.Tr key={profile.id}>
          <Table.Td>
            <Anchor component={Link} to={`/profiles/${profile.id}`} fw={500}>
              {profileLabel(profile)}
            </Anchor>
          </Table.Td>
          <Table.Td>
            <Text size="sm">{profile.email ?? "—"}</Text>
          </Table.Td>
          <Table.Td>
            <Text size="sm">{profile.phone ?? "—"}</Text>
          </Table.Td>
          <DateCell value={profile.created_at} />
        </Table.Tr>
      ))}
    </DataTable>
  );
}

function DeleteDialog({ segment, opened, onClose }: { segment: Segment; opened: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const remove = useConfirmMutation({
    mutationFn: () =>
      call(api.DELETE("/api/segments/{segment_id}", { params: { path: { segment_id: segment.id } } })),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.segment(segment.id) });
      void queryClient.invalidateQueries({ queryKey: keys.segmentsAll });
      notifications.show({ color: "teal", message: `Segment “${segment.name}” was deleted.` });
      void navigate("/segments");
    },
    onClose,
  });
  return (
    <ConfirmDialog
      opened={opened}
      title="Delete this segment?"
      confirmLabel="Delete segment"
      {...remove.dialog}
      onConfirm={() => remove.mutate()}
    >
      “{segment.name}” and its history are deleted for good. Its members are not: their profiles stay.
    </ConfirmDialog>
  );
}

