/**
 * Settings → Email, the parts about delivery: the deliverability guard (rates, warnings, the
 * pause and its Resume), the failover list of providers with their health, "check connection",
 * a test email, and the DNS records (SPF, DKIM, DMARC) for the sending domain.
 */
import {
  Alert,
  Badge,
  Button,
  Group,
  NumberInput,
  PasswordInput,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconPlayerPause } from "@tabler/icons-react";
import { queryOptions, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call, type Schemas } from "../../api/client";
import { CodeBlock } from "../../components/CodeBlock";
import { Section } from "../../components/Section";
import { DateTime } from "../../components/DateTime";
import { FormErrors } from "../../components/FormErrors";
import { ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import { CONFIG_FIELDS, KIND_LABELS, toProviderCreate, type Kind } from "./emailProvidersForm";

type Provider = Schemas["Provider"];
type Deliverability = Schemas["DeliverabilityGuard"];

const providersKey = ["email-providers"] as const;
const deliverabilityKey = ["email-deliverability"] as const;

const providersQuery = queryOptions({
  queryKey: providersKey,
  queryFn: () => call(api.GET("/api/email/providers")),
  refetchInterval: 15_000,
});
const deliverabilityQuery = queryOptions({
  queryKey: deliverabilityKey,
  queryFn: () => call(api.GET("/api/email/deliverability")),
});

export function EmailDelivery({ senderDomain, dkim }: { senderDomain: string | null; dkim: Schemas["DkimRecord"] | null }) {
  return (
    <Stack gap="lg" maw={960}>
      <DeliverabilityPanel />
      <ProvidersPanel />
      <TestEmailPanel />
      <DnsGuidance domain={senderDomain} dkim={dkim} />
    </Stack>
  );
}

const percent = (value: number) => `${(value * 100).toFixed(2)}%`;

function DeliverabilityPanel() {
  const queryClient = useQueryClient();
  const state = useQuery(deliverabilityQuery);
  const resume = useMutation({
    mutationFn: () => call(api.POST("/api/email/deliverability/resume")),
    onSuccess: (data) => {
      queryClient.setQueryData(deliverabilityKey, data);
      notifications.show({ color: "teal", message: "Marketing email resumed." });
    },
  });
  if (state.isPending) return <LoadingState label="Loading deliverability…" />;
  if (state.isError) return <ErrorState error={state.error} onRetry={() => void state.refetch()} />;
  const data: Deliverability = state.data;
  return (
    <Section
      title="Deliverability"
      description={
        <>
          Bounces and complaints per provider since <DateTime value={data.since} relative />. Above 0.1% complaints Herald
          warns; above 0.3%, or too many bounces, marketing email pauses until you resume it.
        </>
      }
    >
      {data.paused && (
        <Alert color="red" variant="light" icon={<IconPlayerPause aria-hidden />} title="Marketing email is paused" data-testid="pause-alert">
          <Stack gap="xs">
            <Text size="sm">{data.pause_reason}</Text>
            <Text size="sm">Transactional email still goes out. Find the cause (a stale list, a bad import) before resuming.</Text>
            <Group>
              <Button color="red" variant="light" loading={resume.isPending} onClick={() => resume.mutate()}>
                Resume marketing email
              </Button>
            </Group>
          </Stack>
        </Alert>
      )}
      {data.warnings.map((warning) => (
        <Alert key={warning} color="yellow" variant="light" icon={<IconAlertTriangle aria-hidden />}>
          <Text size="sm">{warning}</Text>
        </Alert>
      ))}
      {data.rates.length === 0 ? (
        <Text size="sm" c="dimmed">
          Nothing sent in this window yet.
        </Text>
      ) : (
        <Table aria-label="Bounce and complaint rates">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Provider</Table.Th>
              <Table.Th ta="right">Sent</Table.Th>
              <Table.Th ta="right">Bounce rate</Table.Th>
              <Table.Th ta="right">Complaint rate</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.rates.map((row) => (
              <Table.Tr key={row.provider}>
                <Table.Td>{row.provider}</Table.Td>
                <Table.Td ta="right">{row.sent.toLocaleString()}</Table.Td>
                <Table.Td ta="right">{percent(row.bounce_rate)}</Table.Td>
                <Table.Td ta="right">{percent(row.complaint_rate)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Section>
  );
}

const STATE_COLORS = { closed: "teal", open: "red", half_open: "yellow" } as const;
const STATE_LABELS = { closed: "healthy", open: "open (skipped)", half_open: "probing" } as const;

function ProvidersPanel() {
  const providers = useQuery(providersQuery);
  return (
    <Section
      title="Providers and failover"
      description="With providers listed here, email goes to the first healthy one, and on to the next when it fails. Without any, Herald uses the provider chosen below."
    >
      {providers.isPending && <LoadingState label="Loading the providers…" />}
      {providers.isError && <ErrorState error={providers.error} onRetry={() => void providers.refetch()} />}
      {providers.data && providers.data.data.length === 0 && (
        <Text size="sm" c="dimmed">
          No providers listed.
        </Text>
      )}
      {providers.data && providers.data.data.length > 0 && (
        <Table aria-label="Email providers" verticalSpacing="sm">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th>
              <Table.Th>Provider</Table.Th>
              <Table.Th>Health</Table.Th>
              <Table.Th ta="right">Sent</Table.Th>
              <Table.Th>Last error</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {providers.data.data.map((provider) => (
              <ProviderRow key={provider.id} provider={provider} />
            ))}
          </Table.Tbody>
        </Table>
      )}
      <AddProviderForm />
    </Section>
  );
}

function ProviderRow({ provider }: { provider: Provider }) {
  const queryClient = useQueryClient();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: providersKey });
  const path = { params: { path: { provider_id: provider.id } } };
  const check = useMutation({
    mutationFn: () => call(api.POST("/api/email/providers/{provider_id}/check", path)),
    onSuccess: (result) =>
      notifications.show({
        color: result.ok ? "teal" : "red",
        title: result.ok ? `${provider.label}: connection works` : `${provider.label}: connection failed`,
        message: result.detail,
      }),
  });
  const reset = useMutation({
    mutationFn: () => call(api.POST("/api/email/providers/{provider_id}/reset", path)),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: () => call(api.DELETE("/api/email/providers/{provider_id}", path)),
    onSuccess: refresh,
  });
  const health = provider.health;
  return (
    <Table.Tr data-testid={`provider-${provider.label}`}>
      <Table.Td>{provider.position}</Table.Td>
      <Table.Td>
        <Text size="sm" fw={600}>
          {provider.label}
        </Text>
        <Text size="xs" c="dimmed">
          {KIND_LABELS[provider.kind]}
          {provider.per_second ? ` · ${provider.per_second}/s` : ""}
          {provider.per_day ? ` · ${provider.per_day.toLocaleString()}/day` : ""}
          {provider.webhook_path ? ` · webhook ${provider.webhook_path}` : ""}
        </Text>
      </Table.Td>
      <Table.Td>
        <Badge color={STATE_COLORS[health.state]} variant="light">
          {STATE_LABELS[health.state]}
        </Badge>
        <Text size="xs" c="dimmed">
          {health.error_rate !== null ? `${percent(health.error_rate)} errors (last minute)` : "no recent sends"}
          {health.latency_ms !== null ? ` · ${health.latency_ms} ms` : ""}
        </Text>
      </Table.Td>
      <Table.Td ta="right">{health.sent.toLocaleString()}</Table.Td>
      <Table.Td maw={260}>
        {health.last_error ? (
          <Text size="xs" lineClamp={3} title={health.last_error}>
            {health.last_error}
          </Text>
        ) : (
          <Text size="xs" c="dimmed">
            none
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          <Button size="xs" variant="default" loading={check.isPending} onClick={() => check.mutate()}>
            Check connection
          </Button>
          {health.state !== "closed" && (
            <Button size="xs" variant="light" loading={reset.isPending} onClick={() => reset.mutate()}>
              Reset
            </Button>
          )}
          <Button size="xs" variant="subtle" color="red" loading={remove.isPending} onClick={() => remove.mutate()} aria-label={`Remove ${provider.label}`}>
            Remove
          </Button>
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

function AddProviderForm() {
  const queryClient = useQueryClient();
  const errors = useApiErrors(["kind", "label", "per_second", "per_day", ...CONFIG_FIELDS.all.map((f) => `config.${f.name}`)]);
  const form = useForm({
    initialValues: { kind: "postmark" as Kind, label: "", per_second: "" as number | "", per_day: "" as number | "", config: {} as Record<string, string> },
    validate: { label: (value) => (value.trim() ? null : "Name it (for example: Postmark, marketing)") },
  });
  const add = useMutation({
    mutationFn: (values: typeof form.values) => call(api.POST("/api/email/providers", { body: toProviderCreate(values) })),
    onSuccess: () => {
      form.reset();
      errors.clear();
      void queryClient.invalidateQueries({ queryKey: providersKey });
      notifications.show({ color: "teal", message: "Provider added." });
    },
    onError: (error) => errors.show(form, error),
  });
  const fields = CONFIG_FIELDS[form.values.kind];
  return (
    <form
      noValidate
      aria-label="Add a provider"
      onSubmit={form.onSubmit((values) => {
        errors.clear();
        add.mutate(values);
      })}
    >
      <Stack gap="sm">
        <Text size="sm" fw={600}>
          Add a provider
        </Text>
        <FormErrors messages={errors.other} />
        <SimpleGrid cols={{ base: 1, sm: 4 }}>
          <Select
            label="Kind"
            allowDeselect={false}
            data={(Object.keys(KIND_LABELS) as Kind[]).map((value) => ({ value, label: KIND_LABELS[value] }))}
            {...form.getInputProps("kind")}
          />
          <TextInput label="Label" {...form.getInputProps("label")} />
          <NumberInput label="Per second" min={1} allowDecimal={false} description="Optional limit" {...form.getInputProps("per_second")} />
          <NumberInput label="Per day" min={1} allowDecimal={false} description="Optional limit" {...form.getInputProps("per_day")} />
        </SimpleGrid>
        {fields.length > 0 && (
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            {fields.map((field) =>
              field.secret ? (
                <PasswordInput
                  key={field.name}
                  label={field.label}
                  description="Stored encrypted; never shown again."
                  autoComplete="new-password"
                  {...form.getInputProps(`config.${field.name}`)}
                />
              ) : (
                <TextInput key={field.name} label={field.label} placeholder={field.placeholder} description={field.help} {...form.getInputProps(`config.${field.name}`)} />
              ),
            )}
          </SimpleGrid>
        )}
        <Group>
          <Button type="submit" loading={add.isPending}>
            Add provider
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function TestEmailPanel() {
  const errors = useApiErrors(["to"]);
  const form = useForm({ initialValues: { to: "" } });
  const send = useMutation({
    mutationFn: (values: { to: string }) => call(api.POST("/api/email/test", { body: { to: values.to.trim() } })),
    onSuccess: (message) =>
      notifications.show({
        color: "teal",
        message: `Test email ${message.status === "sent" ? "sent" : "queued"} to ${message.to_address}.`,
      }),
    onError: (error) => errors.show(form, error),
  });
  return (
    <Section title="Send a test email" description="A short transactional email through the setup above.">
      <form
        noValidate
        aria-label="Send a test email"
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          send.mutate(values);
        })}
      >
        <Group align="flex-end">
          <TextInput label="To" type="email" placeholder="you@example.com" {...form.getInputProps("to")} />
          <Button type="submit" variant="default" loading={send.isPending}>
            Send test email
          </Button>
        </Group>
        <FormErrors messages={errors.other} />
      </form>
    </Section>
  );
}

type DnsRecord = Schemas["DnsRecord"];

const DNS_STATUS: Record<DnsRecord["status"], { color: string; label: string }> = {
  ok: { color: "teal", label: "OK" },
  missing: { color: "red", label: "Missing" },
  wrong: { color: "orange", label: "Wrong" },
  unknown: { color: "gray", label: "Unknown" },
};

const PURPOSE_LABELS: Record<DnsRecord["purpose"], string> = { spf: "SPF", dkim: "DKIM", dmarc: "DMARC" };

function DnsGuidance({ domain, dkim }: { domain: string | null; dkim: Schemas["DkimRecord"] | null }) {
  const check = useMutation({
    mutationFn: () => call(api.POST("/api/email/dns-check", { body: { domain } })),
  });
  return (
    <Section
      title="SPF, DKIM and DMARC"
      description="Mailbox providers trust mail whose domain publishes these records. Gmail and Yahoo require all three for bulk senders."
    >
      {!domain ? (
        <Text size="sm" c="dimmed">
          Set a default sender below to see the records for its domain.
        </Text>
      ) : (
        <Stack gap="xs" data-testid="dns-guidance">
          <Group justify="space-between">
            <Text size="sm">
              Look up what <code>{domain}</code> publishes now and compare it with what your providers need.
            </Text>
            <Button variant="default" onClick={() => check.mutate()} loading={check.isPending}>
              Check DNS
            </Button>
          </Group>
          {check.isError && <FormErrors messages={[(check.error as Error).message]} />}
          {check.data ? (
            <DnsResults records={check.data.records} />
          ) : (
            <>
              <Text size="sm">
                <b>SPF</b> (TXT at <code>{domain}</code>): allow each provider that sends for you, for example{" "}
              </Text>
              <CodeBlock code={`v=spf1 include:amazonses.com include:sendgrid.net include:spf.mtasv.net ~all`} label="SPF example" caption="Keep only the includes of the providers you use" />
              <Text size="sm">
                <b>DKIM</b>: {dkim ? "publish the record shown under DKIM signing below." : "add a key under DKIM signing below, or publish the records your provider gives you."}
              </Text>
              <Text size="sm">
                <b>DMARC</b> (TXT at <code>_dmarc.{domain}</code>): start by monitoring, then tighten to quarantine.
              </Text>
              <CodeBlock code={`v=DMARC1; p=none; rua=mailto:dmarc@${domain}`} label="DMARC record" caption="Value (TXT)" />
            </>
          )}
        </Stack>
      )}
    </Section>
  );
}

function DnsResults({ records }: { records: DnsRecord[] }) {
  return (
    <Stack gap="sm" data-testid="dns-results">
      {records.map((record) => {
        const status = DNS_STATUS[record.status];
        return (
          <Stack key={`${record.type} ${record.name}`} gap={4} data-testid="dns-record">
            <Group gap="xs">
              <Badge color={status.color} variant="light">
                {status.label}
              </Badge>
              <Text size="sm" fw={600}>
                {PURPOSE_LABELS[record.purpose]}
                {record.provider ? ` (${record.provider})` : ""}
              </Text>
              <Text size="sm">
                {record.type} at <code>{record.name}</code>: {record.detail}
              </Text>
            </Group>
            {record.found.length > 0 && record.status !== "ok" && (
              <Text size="xs" c="dimmed">
                Published now: {record.found.join(" | ")}
              </Text>
            )}
            {(record.status === "missing" || record.status === "wrong") && (
              <CodeBlock code={record.expected} label={`${PURPOSE_LABELS[record.purpose]} record to publish`} caption={`Value (${record.type})`} />
            )}
          </Stack>
        );
      })}
    </Stack>
  );
}
