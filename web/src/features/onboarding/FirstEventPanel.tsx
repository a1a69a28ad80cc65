import { Alert, Button, Code, Group, Paper, Stack, Tabs, Text, TextInput, Title } from "@mantine/core";
import { IconKey, IconRefresh } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { CodeBlock } from "../../components/CodeBlock";
import { CopyButton } from "../../components/CopyButton";
import { snippets } from "../../lib/snippets";

export const FIRST_EVENT_KEY_NAME = "Website (from Send your first event)";

/** Copyable snippets that send a first event, filled with a public key made here or pasted. */
export function FirstEventPanel({
  intro,
  onSent,
  title = "Send your first event",
}: {
  intro: string;
  onSent?: () => void;
  title?: string;
}) {
  const isAdmin = useIsAdmin();
  const queryClient = useQueryClient();
  const [key, setKey] = useState("");
  const [created, setCreated] = useState(false);
  const createKey = useMutation({
    mutationFn: () =>
      call(api.POST("/api/api-keys", { body: { name: FIRST_EVENT_KEY_NAME, kind: "public" } })),
    onSuccess: (apiKey) => {
      setKey(apiKey.key);
      setCreated(true);
      void queryClient.invalidateQueries({ queryKey: keys.apiKeys });
    },
  });
  const trimmed = key.trim();
  const keyProblem =
    trimmed.startsWith("sk_")
      ? "This is a secret key. Never put a secret key in a web page or share it: use a public key (pk_…)."
      : trimmed && !trimmed.startsWith("pk_")
        ? "Public keys start with pk_."
        : null;
  const usable = trimmed.startsWith("pk_") ? trimmed : null;

  return (
    <Paper withBorder p="lg" component="section" aria-labelledby="first-event-title">
      <Stack>
        <Title order={2} fz="h3" id="first-event-title">
          {title}
        </Title>
        <Text>{intro}</Text>
        <Text size="sm" c="dimmed">
          The snippets use a <strong>public key</strong> (<Code>pk_…</Code>): it can only send events and
          identify people, so it is safe in a web page. Herald stores API keys hashed and cannot show an
          existing key again, so create a new public key here, or paste one you saved.
        </Text>
        {created && usable ? (
          <Alert color="teal" variant="light" icon={<IconKey aria-hidden />} title="Your new public key">
            <Stack gap="xs">
              <Group gap="xs">
                <Code fz="sm" data-testid="new-public-key">
                  {usable}
                </Code>
                <CopyButton value={usable} label="Copy key" />
              </Group>
              <Text size="sm">
                Herald shows it only now. It is filled into the snippets below; it is also listed (by its
                first characters) in Settings → API keys, where you can revoke it.
              </Text>
            </Stack>
          </Alert>
        ) : (
          <Group align="flex-end">
            {isAdmin ? (
              <Button
                leftSection={<IconKey size={16} aria-hidden />}
                onClick={() => createKey.mutate()}
                loading={createKey.isPending}
              >
                Create a public key for these snippets
              </Button>
            ) : (
              <Text size="sm">Only admins create keys: ask one for a public key, then paste it here.</Text>
            )}
            <TextInput
              label="Or paste a public key"
              placeholder="pk_…"
              value={key}
              onChange={(event) => setKey(event.currentTarget.value)}
              error={keyProblem}
              w={320}
              autoComplete="off"
              spellCheck={false}
            />
          </Group>
        )}
        {createKey.isError && (
          <Alert color="red" variant="light" role="alert">
            {errorMessage(createKey.error)}
          </Alert>
        )}
        <SnippetTabs publicKey={usable} />
        {onSent && (
          <Group>
            <Button variant="default" leftSection={<IconRefresh size={16} aria-hidden />} onClick={onSent}>
              I sent an event: check again
            </Button>
          </Group>
        )}
      </Stack>
    </Paper>
  );
}

function SnippetTabs({ publicKey }: { publicKey: string | null }) {
  const list = snippets(window.location.origin, publicKey);
  return (
    <Tabs defaultValue="curl" keepMounted={false}>
      <Tabs.List aria-label="Snippet language">
        {list.map((snippet) => (
          <Tabs.Tab key={snippet.id} value={snippet.id}>
            {snippet.label}
          </Tabs.Tab>
        ))}
      </Tabs.List>
      {list.map((snippet) => (
        <Tabs.Panel key={snippet.id} value={snippet.id} pt="sm">
          <CodeBlock code={snippet.code} label={`${snippet.label} snippet`} caption={snippet.caption} />
        </Tabs.Panel>
      ))}
    </Tabs>
  );
}
