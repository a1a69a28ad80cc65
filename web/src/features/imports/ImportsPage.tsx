/** Imports: profiles from CSV and events from JSON Lines, their progress and what they did. */
import { Anchor, Badge, Button, Group, Loader, Progress, Stack, Table, Text, VisuallyHidden } from "@mantine/core";
import { IconDownload, IconFileImport, IconTableImport, IconTimeline } from "@tabler/icons-react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { api, call, type Import, type ImportType } from "../../api/client";
import { importsQuery, keys } from "../../api/queries";
import { useIsAdmin, useSignedInDownload } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, DateCell } from "../../components/DataTable";
import { FilterSelect } from "../../components/FilterSelect";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { useCursorPages } from "../../components/useCursorPages";
import { EventImportModal } from "./EventImportModal";
import { ImportErrorsButton } from "./ImportErrors";
import { ProfileImportModal } from "./ProfileImportModal";
import {
  countParts,
  errorCount,
  isActive,
  progressPercent,
  progressText,
  STATUS_COLORS,
  STATUS_LABELS,
  TYPE_LABELS,
} from "./summary";

const POLL_MS = 1500;
const TYPE_OPTIONS = (Object.keys(TYPE_LABELS) as ImportType[]).map((t) => ({ value: t, label: TYPE_LABELS[t] }));

export function ImportsPage() {
  const isAdmin = useIsAdmin();
  const [type, setType] = useState<"" | ImportType>("");
  const pages = useCursorPages(type);
  const [uploading, setUploading] = useState<ImportType | null>(null);
  const [cancelling, setCancelling] = useState<Import | null>(null);
  const queryClient = useQueryClient();
  const list = useQuery({
    ...importsQuery(type, pages.cursor),
    refetchInterval: (query) => (query.state.data?.data.some(isActive) ? POLL_MS : false),
  });
  useRefreshWhenFinished(list.data?.data);

  const cancel = useConfirmMutation({
    mutationFn: (item: Import) => call(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: item.id } } })),
    onSuccess: (_job, close) => {
      void queryClient.invalidateQueries({ queryKey: keys.importsAll });
      close();
    },
    onClose: () => setCancelling(null),
  });

  const uploaded = () => {
    // Show the new import at the top of the unfiltered list.
    setType("");
    pages.reset();
    void queryClient.invalidateQueries({ queryKey: keys.importsAll });
  };

  return (
    <>
      <PageHeader
        title="Imports"
        description={
          isAdmin
            ? "Bring in people from a CSV file and their history from a JSON Lines file. Herald imports in the background: follow the progress here."
            : "Files imported into Herald and what they did. Admins and owners start imports."
        }
        actions={
          isAdmin && (
            <>
              <Button leftSection={<IconTableImport size={16} aria-hidden />} onClick={() => setUploading("profiles")}>
                Import profiles
              </Button>
              <Button variant="default" leftSection={<IconTimeline size={16} aria-hidden />} onClick={() => setUploading("events")}>
                Import events
              </Button>
            </>
          )
        }
      />
      <Group mb="md" role="search">
        <FilterSelect label="Type" w={240} anyLabel="All imports" options={TYPE_OPTIONS} value={type} onChange={setType} />
      </Group>
      <QueryList
        query={list}
        loading="Loading imports…"
        pager={pages.pager}
        empty={
          <EmptyState title={type ? "No imports of this type" : "No imports yet"} icon={<IconFileImport aria-hidden />}>
            Profiles from CSV files and events from JSON Lines files, imported here or with `herald import` on the command
            line, are listed here.
          </EmptyState>
        }
      >
        {(items) => (
          <DataTable
            label="Imports"
            minWidth={900}
            columns={[
              "File",
              { label: "Status", w: 120 },
              { label: "Progress and counts", w: "34%" },
              "Started",
              "Finished",
              { label: <VisuallyHidden>Actions</VisuallyHidden>, w: 170 },
            ]}
          >
            {items.map((item) => (
              <ImportRow key={item.id} item={item} canCancel={isAdmin} onCancel={() => setCancelling(item)} />
            ))}
          </DataTable>
        )}
      </QueryList>
      <ProfileImportModal opened={uploading === "profiles"} onClose={() => setUploading(null)} onUploaded={uploaded} />
      <EventImportModal opened={uploading === "events"} onClose={() => setUploading(null)} onUploaded={uploaded} />
      <ConfirmDialog
        opened={cancelling !== null}
        title="Stop this import?"
        confirmLabel="Stop import"
        onConfirm={() => cancelling && cancel.mutate(cancelling)}
        {...cancel.dialog}
      >
        Herald stops importing {cancelling?.filename ?? "the file"} after the batch it is working on. What was imported
        until then stays.
      </ConfirmDialog>
    </>
  );
}

/** When an import the list followed finishes, the screens that show its data read them again. */
function useRefreshWhenFinished(items: readonly Import[] | undefined) {
  const queryClient = useQueryClient();
  const active = useRef(new Set<string>());
  useEffect(() => {
    if (!items) return;
    let finished = false;
    for (const item of items) {
      if (isActive(item)) active.current.add(item.id);
      else if (active.current.delete(item.id)) finished = true;
    }
    if (finished) {
      for (const queryKey of [keys.profilesAll, keys.eventsAll, keys.metrics, keys.segmentsAll]) {
        void queryClient.invalidateQueries({ queryKey });
      }
    }
  }, [items, queryClient]);
}

function ImportRow({ item, canCancel, onCancel }: { item: Import; canCancel: boolean; onCancel: () => void }) {
  const download = useSignedInDownload();
  const errors = errorCount(item);
  return (
    <Table.Tr>
      <Table.Td>
        <Text size="sm" fw={500} style={{ overflowWrap: "anywhere" }}>
          {item.filename || "Unnamed file"}
        </Text>
        <Text size="xs" c="dimmed">
          {TYPE_LABELS[item.type]}
        </Text>
      </Table.Td>
      <Table.Td>
        <Badge
          variant="light"
          color={STATUS_COLORS[item.status]}
          leftSection={item.status === "running" ? <Loader size={10} color="blue" aria-hidden /> : undefined}
        >
          {STATUS_LABELS[item.status]}
        </Badge>
      </Table.Td>
      <Table.Td>
        <ImportProgress item={item} />
      </Table.Td>
      <DateCell value={item.started_at} />
      <DateCell value={item.finished_at} />
      <Table.Td>
        <Group gap="xs" justify="flex-end" wrap="nowrap">
          {errors > 0 && <ImportErrorsButton item={item} />}
          {errors > 0 && (
            <Anchor
              size="sm"
              href={`/api/imports/${encodeURIComponent(item.id)}/errors`}
              download
              onClick={download}
              aria-label={`Download the errors of ${item.filename || "this import"}`}
            >
              <Group gap={4} wrap="nowrap">
                <IconDownload size={14} aria-hidden />
                Download errors
              </Group>
            </Anchor>
          )}
          {canCancel && isActive(item) && (
            <Button
              size="compact-sm"
              variant="subtle"
              color="red"
              onClick={onCancel}
              aria-label={`Stop importing ${item.filename || "this file"}`}
            >
              Stop
            </Button>
          )}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

function ImportProgress({ item }: { item: Import }) {
  const counts = item.counts ? <Counts parts={countParts(item.type, item.counts)} /> : null;
  switch (item.status) {
    case "pending":
      return (
        <Text size="sm" c="dimmed">
          {item.error ? `Will try again after an error: ${item.error}` : "Waiting for a worker to start it…"}
        </Text>
      );
    case "running":
      return (
        <Stack gap={4}>
          <Progress
            value={progressPercent(item)}
            animated
            striped
            aria-label={`Progress of ${item.filename || "the import"}`}
          />
          <Text size="xs" c="dimmed">
            {item.progress_total === null ? "Counting rows…" : progressText(item)}
          </Text>
          {counts}
        </Stack>
      );
    case "succeeded":
      return counts;
    case "failed":
      return (
        <Text size="sm" c="red" style={{ overflowWrap: "anywhere" }}>
          {item.error || "The file could not be read."}
        </Text>
      );
    case "cancelled":
      return (
        <Stack gap={4}>
          <Text size="xs" c="dimmed">
            {item.counts ? `Stopped after ${progressText(item)}. Imported until then:` : "Stopped before anything was imported."}
          </Text>
          {counts}
        </Stack>
      );
  }
}

function Counts({ parts }: { parts: string[] }) {
  return (
    <Group gap="xs" data-testid="import-counts">
      {parts.map((part) => (
        <Text key={part} size="sm">
          {part}
        </Text>
      ))}
    </Group>
  );
}
