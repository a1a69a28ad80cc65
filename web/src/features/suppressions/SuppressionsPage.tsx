/** The suppression list: addresses Herald does not send to, and why. */
import {
  ActionIcon,
  Badge,
  Button,
  Group,
  Modal,
  Select,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Tooltip,
  VisuallyHidden,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconBan, IconPlus, IconTrash, IconUpload } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type Suppression, type SuppressionChannel, type SuppressionReason } from "../../api/client";
import { ApiError, errorMessage, mapFieldErrors } from "../../api/errors";
import { keys, suppressionsQuery, type SuppressionFilter } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, DateCell } from "../../components/DataTable";
import { FilterSelect } from "../../components/FilterSelect";
import { FormErrors } from "../../components/FormErrors";
import { DownloadButton } from "../../components/DownloadButton";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { useCursorPages } from "../../components/useCursorPages";
import { formatCount } from "../../lib/format";
import { describeBulkErrors, parseAddressList, type Channel } from "./addresses";

export const REASON_LABELS: Readonly<Record<SuppressionReason, string>> = {
  unsubscribe: "Unsubscribed",
  hard_bounce: "Hard bounce",
  complaint: "Spam complaint",
  manual: "Added by hand",
  import: "Imported",
  stop: "Replied STOP",
};
const REASON_COLORS: Readonly<Record<SuppressionReason, string>> = {
  unsubscribe: "orange",
  hard_bounce: "red",
  complaint: "red",
  manual: "gray",
  import: "gray",
  stop: "orange",
};
const REASONS = Object.keys(REASON_LABELS) as SuppressionReason[];
/** What a person adds by hand; bounces, complaints, unsubscribes and STOP come from recipients. */
const ADDABLE_REASONS: SuppressionReason[] = ["manual", "import", "hard_bounce", "complaint", "unsubscribe"];
const CHANNEL_LABELS: Readonly<Record<SuppressionChannel, string>> = { email: "Email", sms: "SMS" };
const CHANNEL_OPTIONS = (Object.keys(CHANNEL_LABELS) as SuppressionChannel[]).map((c) => ({ value: c, label: CHANNEL_LABELS[c] }));
const REASON_OPTIONS = REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] }));

function exportHref(filter: SuppressionFilter): string {
  const params = new URLSearchParams();
  if (filter.channel) params.set("channel", filter.channel);
  if (filter.reason) params.set("reason", filter.reason);
  if (filter.q) params.set("q", filter.q);
  const query = params.toString();
  return `/api/suppressions/export${query ? `?${query}` : ""}`;
}

export function SuppressionsPage() {
  const isAdmin = useIsAdmin();
  const [channel, setChannel] = useState<SuppressionFilter["channel"]>("");
  const [reason, setReason] = useState<SuppressionFilter["reason"]>("");
  const [search, setSearch] = useState("");
  const [q] = useDebouncedValue(search.trim(), 300);
  const filter: SuppressionFilter = { channel, reason, q };
  const pages = useCursorPages();
  const [adding, setAdding] = useState(false);
  const [bulk, setBulk] = useState(false);
  const [removing, setRemoving] = useState<Suppression | null>(null);
  const list = useQuery(suppressionsQuery(filter, pages.cursor));
  const queryClient = useQueryClient();
  const filtered = Boolean(channel || reason || q);

  const remove = useMutation({
    mutationFn: (entry: Suppression) =>
      call(api.DELETE("/api/suppressions/{suppression_id}", { params: { path: { suppression_id: entry.id } } })),
    onSuccess: (_data, entry) => {
      setRemoving(null);
      void queryClient.invalidateQueries({ queryKey: keys.suppressionsAll });
      notifications.show({ color: "teal", message: `${entry.address} removed from the suppression list.` });
    },
  });

  const resetPages = pages.reset;
  return (
    <>
      <PageHeader
        title="Suppressions"
        description="Addresses Herald does not send to. Marketing stops for every reason here; transactional email (receipts, password resets) stops only for hard bounces, spam complaints and addresses added by hand."
        actions={
          <>
            <Button leftSection={<IconPlus size={16} aria-hidden />} onClick={() => setAdding(true)}>
              Add address
            </Button>
            <Button variant="default" leftSection={<IconUpload size={16} aria-hidden />} onClick={() => setBulk(true)}>
              Add many
            </Button>
            <DownloadButton href={exportHref(filter)}>Export CSV</DownloadButton>
          </>
        }
      />
      <Group mb="md" align="flex-end" wrap="wrap" role="search">
        <TextInput
          label="Search"
          placeholder="Address starts with…"
          type="search"
          w={280}
          value={search}
          onChange={(event) => {
            setSearch(event.currentTarget.value);
            resetPages();
          }}
        />
        <FilterSelect
          label="Channel"
          w={160}
          anyLabel="Any channel"
          options={CHANNEL_OPTIONS}
          value={channel}
          onChange={(value) => {
            setChannel(value);
            resetPages();
          }}
        />
        <FilterSelect
          label="Reason"
          w={200}
          anyLabel="Any reason"
          options={REASON_OPTIONS}
          value={reason}
          onChange={(value) => {
            setReason(value);
            resetPages();
          }}
        />
      </Group>
      <QueryList
        query={list}
        loading="Loading the suppression list…"
        pager={pages.pager}
        empty={
          <EmptyState title={filtered ? "Nothing matches" : "Nobody is suppressed"} icon={<IconBan aria-hidden />}>
            {filtered
              ? "No entry matches these filters."
              : "Unsubscribes, hard bounces and spam complaints are added here on their own. Add an address by hand to stop sending to it."}
          </EmptyState>
        }
      >
        {(entries) => (
          <DataTable
            label="Suppressions"
            minWidth={720}
            columns={[
              "Address",
              "Channel",
              "Reason",
              "Source",
              "Added",
              isAdmin && { label: <VisuallyHidden>Actions</VisuallyHidden>, w: 60 },
            ]}
          >
            {entries.map((entry) => (
              <Table.Tr key={entry.id}>
                <Table.Td>
                  <Text size="sm" style={{ overflowWrap: "anywhere" }}>
                    {entry.address}
                  </Text>
                </Table.Td>
                <Table.Td>{CHANNEL_LABELS[entry.channel]}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={REASON_COLORS[entry.reason]}>
                    {REASON_LABELS[entry.reason]}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  <Text size="sm" c="dimmed">
                    {entry.source}
                  </Text>
                </Table.Td>
                <DateCell value={entry.created_at} relative />
                {isAdmin && (
                  <Table.Td>
                    <Tooltip label="Remove from the list">
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Remove ${entry.address}`}
                        onClick={() => {
                          remove.reset();
                          setRemoving(entry);
                        }}
                      >
                        <IconTrash size={16} aria-hidden />
                      </ActionIcon>
                    </Tooltip>
                  </Table.Td>
                )}
              </Table.Tr>
            ))}
          </DataTable>
        )}
      </QueryList>
      <AddModal opened={adding} onClose={() => setAdding(false)} />
      <BulkModal opened={bulk} onClose={() => setBulk(false)} />
      <ConfirmDialog
        opened={removing !== null}
        title="Remove from the suppression list?"
        confirmLabel="Remove"
        busy={remove.isPending}
        errors={remove.isError ? [errorMessage(remove.error)] : []}
        onCancel={() => setRemoving(null)}
        onConfirm={() => removing && remove.mutate(removing)}
      >
        Herald will send to {removing?.address} again.
        {removing && ["unsubscribe", "complaint", "stop"].includes(removing.reason)
          ? " This person asked not to be contacted: remove them only if they asked to be subscribed again."
          : removing?.reason === "hard_bounce"
            ? " Their mail server refused earlier messages: sending again can hurt your sender reputation."
            : ""}
      </ConfirmDialog>
    </>
  );
}

function AddModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [channel, setChannel] = useState<Channel>("email");
  const [address, setAddress] = useState("");
  const [reason, setReason] = useState<SuppressionReason>("manual");
  const [addressError, setAddressError] = useState<string | null>(null);
  const [other, setOther] = useState<string[]>([]);
  const close = () => {
    setAddress("");
    setAddressError(null);
    setOther([]);
    onClose();
  };
  const add = useMutation({
    mutationFn: () => call(api.POST("/api/suppressions", { body: { channel, address: address.trim(), reason } })),
    onSuccess: (entry) => {
      void queryClient.invalidateQueries({ queryKey: keys.suppressionsAll });
      notifications.show({ color: "teal", message: `${entry.address} is on the suppression list.` });
      close();
    },
    onError: (error) => {
      const mapped = mapFieldErrors(error, ["address", "channel", "reason"]);
      setAddressError(mapped.byField.address ?? null);
      setOther([...mapped.other, ...(mapped.byField.channel ? [mapped.byField.channel] : [])]);
    },
  });
  return (
    <Modal opened={opened} onClose={close} title="Add an address to the suppression list" centered>
      <form
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          setOther([]);
          if (!address.trim()) {
            setAddressError(channel === "email" ? "Enter an email address." : "Enter a phone number.");
            return;
          }
          add.mutate();
        }}
      >
        <Stack>
          <Select
            label="Channel"
            allowDeselect={false}
            value={channel}
            data={[{ value: "email", label: "Email" }, { value: "sms", label: "SMS" }]}
            onChange={(value) => setChannel((value ?? "email") as Channel)}
          />
          <TextInput
            label={channel === "email" ? "Email address" : "Phone number"}
            required
            data-autofocus
            value={address}
            error={addressError}
            onChange={(event) => {
              setAddress(event.currentTarget.value);
              setAddressError(null);
            }}
          />
          <Select
            label="Reason"
            allowDeselect={false}
            value={reason}
            data={ADDABLE_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] }))}
            onChange={(value) => setReason((value ?? "manual") as SuppressionReason)}
          />
          <FormErrors messages={other} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={add.isPending}>
              Add to the list
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function BulkModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [text, setText] = useState("");
  const [only, setOnly] = useState<"" | Channel>("");
  const [reason, setReason] = useState<SuppressionReason>("import");
  const [outcome, setOutcome] = useState<{ summary: string; errors: string[] } | null>(null);
  const parsed = parseAddressList(text, only || undefined);
  const close = () => {
    setText("");
    setOutcome(null);
    onClose();
  };
  const add = useMutation({
    mutationFn: (items: typeof parsed.items) =>
      call(
        api.POST("/api/suppressions/bulk", {
          body: { suppressions: items.map((item) => ({ ...item, reason })) },
        }),
      ),
    onSuccess: (result, items) => {
      void queryClient.invalidateQueries({ queryKey: keys.suppressionsAll });
      setOutcome({
        summary: `Added ${formatCount(result.created)}; ${formatCount(result.existing)} already on the list${
          result.errors.length ? `; ${formatCount(new Set(result.errors.map((e) => e.index)).size)} refused` : ""
        }.`,
        errors: describeBulkErrors(items, result.errors),
      });
      if (result.errors.length === 0) setText("");
    },
    onError: (error) =>
      setOutcome({ summary: "Nothing was added.", errors: [error instanceof ApiError ? errorMessage(error) : String(error)] }),
  });
  return (
    <Modal opened={opened} onClose={close} title="Add many addresses" size="lg" centered>
      <form
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          if (parsed.items.length) add.mutate(parsed.items);
        }}
      >
        <Stack>
          <Textarea
            label="Addresses"
            description="Paste email addresses or phone numbers: one a line, or separated by commas or semicolons. Up to 10,000 at a time."
            autosize
            minRows={6}
            maxRows={16}
            data-autofocus
            value={text}
            onChange={(event) => {
              setText(event.currentTarget.value);
              setOutcome(null);
            }}
          />
          <Group grow>
            <Select
              label="Channel"
              allowDeselect={false}
              value={only}
              data={[
                { value: "", label: "Tell by the address" },
                { value: "email", label: "All email" },
                { value: "sms", label: "All SMS" },
              ]}
              onChange={(value) => setOnly((value ?? "") as "" | Channel)}
            />
            <Select
              label="Reason"
              allowDeselect={false}
              value={reason}
              data={ADDABLE_REASONS.map((r) => ({ value: r, label: REASON_LABELS[r] }))}
              onChange={(value) => setReason((value ?? "import") as SuppressionReason)}
            />
          </Group>
          <Text size="sm" c="dimmed" aria-live="polite">
            {parsed.items.length === 0
              ? "No addresses yet."
              : `${formatCount(parsed.items.length)} ${parsed.items.length === 1 ? "address" : "addresses"}${
                  parsed.repeated ? ` (${formatCount(parsed.repeated)} repeated, counted once)` : ""
                }.`}
          </Text>
          {outcome && (
            <Stack gap="xs" role="status">
              <Text size="sm" fw={500}>
                {outcome.summary}
              </Text>
              <FormErrors messages={outcome.errors} />
            </Stack>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {outcome ? "Close" : "Cancel"}
            </Button>
            <Button type="submit" loading={add.isPending} disabled={parsed.items.length === 0 || parsed.items.length > 10_000}>
              Add {parsed.items.length ? formatCount(parsed.items.length) : ""} to the list
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
