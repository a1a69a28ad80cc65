import { Badge, Button, Code, Group, Paper, SegmentedControl, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { IconKey } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call, type ApiKey, type ApiKeyCreated } from "../../api/client";
import { apiKeysQuery, keys } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DateTime } from "../../components/DateTime";
import { FormErrors } from "../../components/FormErrors";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { useApiErrors } from "../../components/useApiErrors";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { NewKeyModal } from "./NewKeyModal";

export function ApiKeysSettings() {
  const isAdmin = useIsAdmin();
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  return (
    <Stack gap="lg" maw={960}>
      {isAdmin ? (
        <CreateKeyForm onCreated={setCreated} />
      ) : (
        <Text size="sm" c="dimmed">
          Only admins and owners create and revoke API keys.
        </Text>
      )}
      <KeyList />
      <NewKeyModal apiKey={created} onClose={() => setCreated(null)} />
    </Stack>
  );
}

const KIND_HELP = {
  public: "Public (pk_…): only sends events and identifies people. Safe in a web page or app.",
  secret: "Secret (sk_…): the whole management API, as an admin. Keep it on your servers.",
} as const;

function CreateKeyForm({ onCreated }: { onCreated: (key: ApiKeyCreated) => void }) {
  const queryClient = useQueryClient();
  const errors = useApiErrors(["name", "kind"]);
  const form = useForm({
    initialValues: { name: "", kind: "public" as "public" | "secret" },
    validate: { name: (value) => (value.trim() ? null : "Name the key after where it is used") },
  });
  const create = useMutation({
    mutationFn: (values: typeof form.values) =>
      call(api.POST("/api/api-keys", { body: { name: values.name.trim(), kind: values.kind } })),
    onSuccess: (apiKey) => {
      form.reset();
      void queryClient.invalidateQueries({ queryKey: keys.apiKeys });
      onCreated(apiKey);
    },
    onError: (error) => errors.show(form, error),
  });
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="create-key-title">
      <form
        onSubmit={form.onSubmit((values) => {
          errors.clear();
          create.mutate(values);
        })}
        noValidate
      >
        <Stack>
          <Title order={2} fz="h4" id="create-key-title">
            Create an API key
          </Title>
          <FormErrors messages={errors.other} />
          <Group align="flex-start" wrap="wrap">
            <TextInput
              label="Name"
              placeholder="Shop website"
              required
              w={280}
              {...form.getInputProps("name")}
            />
            <Stack gap={4}>
              <Text size="sm" fw={500} id="key-kind-label">
                Kind
              </Text>
              <SegmentedControl
                aria-labelledby="key-kind-label"
                data={[
                  { value: "public", label: "Public" },
                  { value: "secret", label: "Secret" },
                ]}
                {...form.getInputProps("kind")}
              />
            </Stack>
          </Group>
          <Text size="sm" c="dimmed">
            {KIND_HELP[form.values.kind]}
          </Text>
          <Group>
            <Button type="submit" loading={create.isPending} leftSection={<IconKey size={16} aria-hidden />}>
              Create key
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

function KeyList() {
  const isAdmin = useIsAdmin();
  const apiKeys = useQuery(apiKeysQuery);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="key-list-title">
      <Title order={2} fz="h4" mb="sm" id="key-list-title">
        Keys
      </Title>
      {apiKeys.isPending ? (
        <LoadingState label="Loading API keys…" />
      ) : apiKeys.isError ? (
        <ErrorState error={apiKeys.error} onRetry={() => void apiKeys.refetch()} />
      ) : apiKeys.data.data.length === 0 ? (
        <EmptyState title="No API keys yet" icon={<IconKey aria-hidden />}>
          Create a public key for your website, or a secret key for your backend.
        </EmptyState>
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table verticalSpacing="sm" aria-label="API keys">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Kind</Table.Th>
                <Table.Th>Key starts with</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Last used</Table.Th>
                <Table.Th>Status</Table.Th>
                {isAdmin && <Table.Th aria-label="Actions" />}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {apiKeys.data.data.map((apiKey) => (
                <KeyRow key={apiKey.id} apiKey={apiKey} canRevoke={isAdmin} onRevoke={() => setRevoking(apiKey)} />
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      <RevokeDialog apiKey={revoking} onClose={() => setRevoking(null)} />
    </Paper>
  );
}

function KeyRow({ apiKey, canRevoke, onRevoke }: { apiKey: ApiKey; canRevoke: boolean; onRevoke: () => void }) {
  const revoked = apiKey.revoked_at != null;
  return (
    <Table.Tr c={revoked ? "dimmed" : undefined}>
      <Table.Td>
        <Text size="sm" fw={500}>
          {apiKey.name}
        </Text>
      </Table.Td>
      <Table.Td>
        <Badge variant="light" color={apiKey.kind === "secret" ? "orange" : "blue"}>
          {apiKey.kind}
        </Badge>
      </Table.Td>
      <Table.Td>
        <Code>{apiKey.prefix}…</Code>
      </Table.Td>
      <Table.Td>
        <Text size="sm">
          <DateTime value={apiKey.created_at} />
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="sm">{apiKey.last_used_at ? <DateTime value={apiKey.last_used_at} relative /> : "Never"}</Text>
      </Table.Td>
      <Table.Td>
        {revoked ? (
          <Text size="sm">
            Revoked <DateTime value={apiKey.revoked_at} />
          </Text>
        ) : (
          <Badge color="teal" variant="light">
            Active
          </Badge>
        )}
      </Table.Td>
      {canRevoke && (
        <Table.Td ta="right">
          {!revoked && (
            <Button size="xs" variant="subtle" color="red" onClick={onRevoke} aria-label={`Revoke ${apiKey.name}`}>
              Revoke
            </Button>
          )}
        </Table.Td>
      )}
    </Table.Tr>
  );
}

function RevokeDialog({ apiKey, onClose }: { apiKey: ApiKey | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const revoke = useConfirmMutation({
    mutationFn: (id: string) => call(api.DELETE("/api/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: (revoked, close) => {
      void queryClient.invalidateQueries({ queryKey: keys.apiKeys });
      notifications.show({ color: "teal", message: `${revoked.name} is revoked.` });
      close();
    },
    onClose,
  });
  return (
    <ConfirmDialog
      opened={apiKey !== null}
      title="Revoke this key?"
      confirmLabel="Revoke key"
      {...revoke.dialog}
      onConfirm={() => apiKey && revoke.mutate(apiKey.id)}
    >
      Everything that uses “{apiKey?.name}” ({apiKey?.prefix}…) is refused from its next request. This cannot be
      undone.
    </ConfirmDialog>
  );
}
