/** /flows/:flowId/enrolments — who is or was in the flow, filtered by status and by the step they
 * stand on; one enrolment's path; removing someone from the flow. */
import { Anchor, Button, Drawer, Group, Stack, Table, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { api, call } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { flowEnrolmentQuery, flowEnrolmentsQuery, flowQuery, keys } from "../../api/queries";
import { DataTable } from "../../components/DataTable";
import { DateTime } from "../../components/DateTime";
import { FilterSelect } from "../../components/FilterSelect";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { QueryList, QueryResult } from "../../components/QueryResult";
import { EmptyState, NotFoundState } from "../../components/States";
import { useCursorPages } from "../../components/useCursorPages";
import { EnrolmentPath } from "./EnrolmentPath";
import { EnrolmentStatusBadge } from "./FlowStatusBadge";
import { ENROLMENT_STATUS_LABELS } from "./status";
import { stepNamesOf } from "./steps";
import type { EnrolmentStatus, Flow } from "./types";

const STATUS_OPTIONS = (Object.keys(ENROLMENT_STATUS_LABELS) as EnrolmentStatus[]).map((value) => ({
  value,
  label: ENROLMENT_STATUS_LABELS[value],
}));

export function EnrolmentsPage() {
  const { flowId = "" } = useParams();
  const flow = useQuery(flowQuery(flowId));
  return (
    <QueryResult query={flow} loading="Loading the flow…" notFound={<NotFoundState thing="flow" />}>
      {(data) => <Enrolments flow={data} />}
    </QueryResult>
  );
}

function Enrolments({ flow }: { flow: Flow }) {
  const [status, setStatus] = useState<"" | EnrolmentStatus>("");
  const [step, setStep] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const pages = useCursorPages(`${status}|${step}`);
  const enrolments = useQuery(flowEnrolmentsQuery(flow.id, status, step, pages.cursor));
  const names = stepNamesOf(flow);
  return (
    <>
      <PageBreadcrumbs
        links={[
          { to: "/flows", label: "Flows" },
          { to: `/flows/${flow.id}`, label: flow.name },
        ]}
        current="Enrolments"
      />
      <PageHeader title={`Enrolments in ${flow.name}`} description="Everyone who entered this flow, newest first: where they are, or how they left." />
      <Group mb="md" align="flex-end">
        <FilterSelect label="Status" anyLabel="Any status" options={STATUS_OPTIONS} value={status} onChange={setStatus} w={180} />
        <FilterSelect
          label="At step"
          anyLabel="Any step"
          options={Object.entries(names).map(([value, label]) => ({ value, label }))}
          value={step}
          onChange={setStep}
          w={240}
        />
      </Group>
      <QueryList
        query={enrolments}
        loading="Loading enrolments…"
        pager={pages.pager}
        empty={<EmptyState title="Nobody here">{status || step ? "No enrolment matches these filters." : "Nobody has entered this flow yet."}</EmptyState>}
      >
        {(items) => (
          <DataTable label="Enrolments" minWidth={760} columns={["Profile", "Status", "Step", "Entered", "Next step due", ""]}>
            {items.map((enrolment) => (
              <Table.Tr key={enrolment.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/profiles/${enrolment.profile_id}`} size="sm">
                    {enrolment.profile_email ?? enrolment.profile_id}
                  </Anchor>
                </Table.Td>
                <Table.Td>
                  <EnrolmentStatusBadge status={enrolment.status} />
                  {enrolment.exit_reason && (
                    <Text size="xs" c="dimmed">
                      {enrolment.exit_reason}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{enrolment.current_step_id ? (names[enrolment.current_step_id] ?? enrolment.current_step_id) : "—"}</Text>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">
                    <DateTime value={enrolment.entered_at} relative />
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{enrolment.due_at ? <DateTime value={enrolment.due_at} relative /> : "—"}</Text>
                </Table.Td>
                <Table.Td>
                  <Button size="compact-xs" variant="subtle" onClick={() => setOpen(enrolment.id)}>
                    Path
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </DataTable>
        )}
      </QueryList>
      <Drawer opened={open !== null} onClose={() => setOpen(null)} position="right" size="md" title="Enrolment">
        {open && <EnrolmentDrawer flow={flow} enrolmentId={open} names={names} />}
      </Drawer>
    </>
  );
}

function EnrolmentDrawer({ flow, enrolmentId, names }: { flow: Flow; enrolmentId: string; names: Record<string, string> }) {
  const queryClient = useQueryClient();
  const enrolment = useQuery(flowEnrolmentQuery(flow.id, enrolmentId));
  const remove = useMutation({
    mutationFn: () =>
      call(api.DELETE("/api/flows/{flow_id}/enrolments/{enrolment_id}", { params: { path: { flow_id: flow.id, enrolment_id: enrolmentId } } })),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.flowEnrolment(flow.id, enrolmentId), updated);
      void queryClient.invalidateQueries({ queryKey: ["flows", "enrolments", flow.id] });
      void queryClient.invalidateQueries({ queryKey: keys.flowResults(flow.id) });
      notifications.show({ color: "teal", message: "Removed from the flow." });
    },
    onError: (error) => notifications.show({ color: "red", title: "Not removed", message: errorMessage(error) }),
  });
  return (
    <QueryResult query={enrolment} loading="Loading the enrolment…">
      {(data) => (
        <Stack>
          <Anchor component={Link} to={`/profiles/${data.profile_id}`}>
            {data.profile_email ?? data.profile_id}
          </Anchor>
          <EnrolmentPath enrolment={data} stepNames={names} />
          {(data.status === "active" || data.status === "waiting") && (
            <Button color="red" variant="light" loading={remove.isPending} onClick={() => remove.mutate()}>
              Remove from flow
            </Button>
          )}
        </Stack>
      )}
    </QueryResult>
  );
}
