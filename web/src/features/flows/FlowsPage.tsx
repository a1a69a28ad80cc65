/** Every flow: its status, what starts it, and its last 30 days; a new one, blank or from a
 * flow template. */
import { Anchor, Button, Modal, Paper, SimpleGrid, Stack, Table, Text, TextInput, UnstyledButton } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { IconHierarchy2, IconPlus } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { api, call } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { flowsQuery, flowTemplatesQuery, keys } from "../../api/queries";
import { DataTable } from "../../components/DataTable";
import { FormErrors } from "../../components/FormErrors";
import { PageHeader } from "../../components/PageHeader";
import { QueryList, QueryResult } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { formatCount } from "../../lib/format";
import { FlowStatusBadge } from "./FlowStatusBadge";
import { isRunning, LIVE_REFRESH_MS } from "./status";
import { blankDefinition, TRIGGER_TYPES } from "./steps";
import type { Flow, FlowSummary } from "./types";

export function FlowsPage() {
  const flows = useQuery({
    ...flowsQuery,
    refetchInterval: (query) => (query.state.data?.data.some((f) => isRunning(f.status)) ? LIVE_REFRESH_MS : false),
  });
  const [creating, { open, close }] = useDisclosure(false);
  const newButton = (
    <Button leftSection={<IconPlus size={16} aria-hidden />} onClick={open}>
      New flow
    </Button>
  );
  return (
    <>
      <PageHeader
        title="Flows"
        description="Messages and actions that run by themselves when something happens: a welcome series, an abandoned cart, a birthday."
        actions={flows.data && flows.data.data.length > 0 ? newButton : undefined}
      />
      <QueryList
        query={flows}
        loading="Loading flows…"
        empty={
          <EmptyState title="No flows yet" icon={<IconHierarchy2 aria-hidden />} action={newButton}>
            A flow starts when someone does an event, enters or leaves a segment, reaches a date, or is
            enrolled through the API, then takes them through delays, splits, emails and webhooks.
          </EmptyState>
        }
      >
        {(items) => <FlowsTable flows={items} />}
      </QueryList>
      <NewFlowModal opened={creating} onClose={close} />
    </>
  );
}

function triggerTypeLabel(type: FlowSummary["trigger_type"]): string {
  return TRIGGER_TYPES.find((t) => t.value === type)?.label ?? type;
}

function FlowsTable({ flows }: { flows: FlowSummary[] }) {
  return (
    <DataTable
      label="Flows"
      minWidth={860}
      columns={[
        "Name",
        "Status",
        "Trigger",
        { label: "Entered (30 days)", ta: "right" },
        { label: "Emails sent", ta: "right" },
        { label: "Clicked", ta: "right" },
        { label: "Conversions", ta: "right" },
        { label: "Revenue", ta: "right" },
      ]}
    >
      {flows.map((flow) => (
        <Table.Tr key={flow.id}>
          <Table.Td>
            <Anchor component={Link} to={`/flows/${flow.id}`} fw={500} style={{ overflowWrap: "anywhere" }}>
              {flow.name}
            </Anchor>
            {flow.has_unpublished_changes && flow.status !== "draft" && (
              <Text size="xs" c="dimmed">
                Unpublished changes
              </Text>
            )}
          </Table.Td>
          <Table.Td>
            <FlowStatusBadge status={flow.status} />
          </Table.Td>
          <Table.Td>
            <Text size="sm">{flow.trigger_label}</Text>
            <Text size="xs" c="dimmed">
              {triggerTypeLabel(flow.trigger_type)}
            </Text>
          </Table.Td>
          <Table.Td ta="right">{formatCount(flow.results_30d.entered)}</Table.Td>
          <Table.Td ta="right">{formatCount(flow.results_30d.sent)}</Table.Td>
          <Table.Td ta="right">{formatCount(flow.results_30d.clicked)}</Table.Td>
          <Table.Td ta="right">{formatCount(flow.results_30d.conversions)}</Table.Td>
          <Table.Td ta="right">{flow.results_30d.revenue.toFixed(2)}</Table.Td>
        </Table.Tr>
      ))}
    </DataTable>
  );
}

/** "Blank flow" or one of the flow templates, with a name; opens the builder on the new draft. */
function NewFlowModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const templates = useQuery({ ...flowTemplatesQuery, enabled: opened });
  const [name, setName] = useState("");
  const [choice, setChoice] = useState<string>("blank");
  const create = useMutation({
    mutationFn: (): Promise<Flow> =>
      choice === "blank"
        ? call(api.POST("/api/flows", { body: { name: name.trim() || "Untitled flow", definition: blankDefinition() } }))
        : call(api.POST("/api/flows/from-template", { body: { template: choice, name: name.trim() || null } })),
    onSuccess: (flow) => {
      void queryClient.invalidateQueries({ queryKey: keys.flowsAll });
      navigate(`/flows/${flow.id}`);
    },
  });
  const option = (key: string, title: string, description: string) => (
    <UnstyledButton
      key={key}
      onClick={() => setChoice(key)}
      aria-pressed={choice === key}
      aria-label={title}
      style={{ height: "100%" }}
    >
      <Paper
        withBorder
        p="sm"
        h="100%"
        style={{ borderColor: choice === key ? "var(--mantine-color-blue-6)" : undefined, borderWidth: choice === key ? 2 : 1 }}
      >
        <Text fw={600} size="sm">
          {title}
        </Text>
        <Text size="xs" c="dimmed">
          {description}
        </Text>
      </Paper>
    </UnstyledButton>
  );
  return (
    <Modal opened={opened} onClose={onClose} title="New flow" size="lg" centered>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <Stack>
          <TextInput label="Name" placeholder="Abandoned cart" value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Text size="sm" fw={500}>
            Start from
          </Text>
          <QueryResult query={templates} loading="Loading flow templates…">
            {(list) => (
              <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="xs">
                {option("blank", "Blank flow", "A trigger and nothing else: build it on the canvas.")}
                {list.data.map((template) => option(template.key, template.name, template.description))}
              </SimpleGrid>
            )}
          </QueryResult>
          {create.isError && <FormErrors messages={[errorMessage(create.error)]} />}
          <Button type="submit" loading={create.isPending} style={{ alignSelf: "flex-end" }}>
            Create and open the builder
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}
