import { Badge, Button, Group, NumberInput, Paper, Stack, Table, Text, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "../../api/client";
import { keys, rateLimitsQuery } from "../../api/queries";
import { hasRole, useCurrentUser } from "../../auth/session";
import { FormErrors } from "../../components/FormErrors";
import { ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import {
  KINDS,
  LEVELS,
  LIMIT_FIELDS,
  PERIODS,
  formValues,
  limitsSignature,
  updateBody,
  type Kind,
  type RateLimits,
} from "./rateLimitsForm";

const KIND_TITLES: Record<Kind, { title: string; help: string }> = {
  ingestion: {
    title: "Ingestion",
    help: "Sending events and identifying people: /api/track, /api/track/batch, /api/identify and /v1/*.",
  },
  management: { title: "Management API and dashboard", help: "Every other request under /api/." },
};
const LEVEL_LABELS = { organization: "The whole organization", key: "Each API key or dashboard user" };
const PERIOD_LABELS = { per_second: "per second (burst)", per_minute: "per minute (steady)" };

export function RateLimitsSettings() {
  // Usage changes by the second: read again while the page is open.
  const limits = useQuery({ ...rateLimitsQuery, refetchInterval: 5000 });
  if (limits.isPending) return <LoadingState label="Loading the rate limits…" />;
  if (limits.isError) return <ErrorState error={limits.error} onRetry={() => void limits.refetch()} />;
  return (
    <Stack gap="lg" maw={960}>
      <RateLimitsForm key={limitsSignature(limits.data)} limits={limits.data} />
      <PublicLimits limits={limits.data} />
      <KeyUsage limits={limits.data} />
    </Stack>
  );
}

function RateLimitsForm({ limits }: { limits: RateLimits }) {
  const isOwner = hasRole(useCurrentUser().role, "owner");
  const queryClient = useQueryClient();
  const errors = useApiErrors(LIMIT_FIELDS);
  const form = useForm({ initialValues: formValues(limits) });
  const save = useMutation({
    mutationFn: (values: typeof form.values) => call(api.PATCH("/api/rate-limits", { body: updateBody(values) })),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.rateLimits, saved);
      notifications.show({ color: "teal", message: "Rate limits saved." });
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="rate-limits-title">
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          save.mutate(values);
        })}
        noValidate
      >
        <Stack>
          <div>
            <Title order={2} fz="h4" id="rate-limits-title">
              Rate limits
            </Title>
            <Text size="sm" c="dimmed">
              Requests over a limit are answered 429 with Retry-After, and every answer says what is left in its
              RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers. Leave a limit empty for the
              default; none can exceed this installation's ceiling.
              {!isOwner && " Only owners change them."}
            </Text>
          </div>
          <FormErrors messages={errors.other} />
          {KINDS.map((kind) => (
            <Stack key={kind} gap="xs">
              <div>
                <Title order={3} fz="h5">
                  {KIND_TITLES[kind].title}
                </Title>
                <Text size="xs" c="dimmed">
                  {KIND_TITLES[kind].help}
                </Text>
              </div>
              <Table striped withTableBorder aria-label={`${KIND_TITLES[kind].title} limits`}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Window</Table.Th>
                    <Table.Th>Limit</Table.Th>
                    <Table.Th>Default</Table.Th>
                    <Table.Th>Ceiling</Table.Th>
                    <Table.Th>Used now</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {LEVELS.flatMap((level) =>
                    PERIODS.map((period) => {
                      const window = limits[kind][level][period];
                      const label = `${LEVEL_LABELS[level]}, ${PERIOD_LABELS[period]}`;
                      return (
                        <Table.Tr key={`${level}.${period}`}>
                          <Table.Td>{label}</Table.Td>
                          <Table.Td>
                            <NumberInput
                              aria-label={`${KIND_TITLES[kind].title}: ${label}`}
                              placeholder={`${window.default.toLocaleString()} (default)`}
                              min={1}
                              allowDecimal={false}
                              allowNegative={false}
                              thousandSeparator=","
                              w={180}
                              disabled={!isOwner}
                              {...form.getInputProps(`${kind}.${level}.${period}`)}
                            />
                          </Table.Td>
                          <Table.Td>{window.default.toLocaleString()}</Table.Td>
                          <Table.Td>{window.ceiling.toLocaleString()}</Table.Td>
                          <Table.Td>
                            {window.used == null ? "per key, below" : `${window.used.toLocaleString()} of ${window.limit.toLocaleString()}`}
                          </Table.Td>
                        </Table.Tr>
                      );
                    }),
                  )}
                </Table.Tbody>
              </Table>
            </Stack>
          ))}
          {isOwner && (
            <Group>
              <Button type="submit" loading={save.isPending} disabled={!form.isDirty()}>
                Save
              </Button>
            </Group>
          )}
        </Stack>
      </form>
    </Paper>
  );
}

function PublicLimits({ limits }: { limits: RateLimits }) {
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="public-limits-title">
      <Title order={2} fz="h4" id="public-limits-title">
        Links and webhooks
      </Title>
      <Text size="sm">
        Requests without a key (tracking, unsubscribe and preference links, provider webhooks), and requests with a
        missing or wrong key: {limits.public.per_second.toLocaleString()} per second and{" "}
        {limits.public.per_minute.toLocaleString()} per minute from each client address, set for the whole
        installation by its operator.
      </Text>
    </Paper>
  );
}

function KeyUsage({ limits }: { limits: RateLimits }) {
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="key-usage-title">
      <Stack gap="xs">
        <Title order={2} fz="h4" id="key-usage-title">
          Usage by API key
        </Title>
        <Table striped withTableBorder aria-label="Usage by API key">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Key</Table.Th>
              <Table.Th>Ingestion (second / minute)</Table.Th>
              <Table.Th>Management (second / minute)</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {limits.keys.map((key) => (
              <Table.Tr key={key.api_key_id}>
                <Table.Td>
                  <Group gap="xs">
                    <Text size="sm">{key.name}</Text>
                    <Badge variant="light" color={key.kind === "secret" ? "grape" : "blue"}>
                      {key.prefix}…
                    </Badge>
                  </Group>
                </Table.Td>
                <Table.Td>
                  {key.ingestion.per_second.toLocaleString()} / {key.ingestion.per_minute.toLocaleString()}
                </Table.Td>
                <Table.Td>
                  {key.management.per_second.toLocaleString()} / {key.management.per_minute.toLocaleString()}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Stack>
    </Paper>
  );
}
