/** Settings → Flow webhooks: the secret that signs every webhook step's request, for owners to
 * read (receivers verify with it, see docs/flows.md) and to replace. */
import { Button, Code, Group, Paper, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../../api/client";
import { keys } from "../../api/queries";
import { hasRole, useCurrentUser } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyButton } from "../../components/CopyButton";
import { QueryResult } from "../../components/QueryResult";
import { useConfirmMutation } from "../../components/useConfirmMutation";

export function FlowWebhookSettings() {
  const isOwner = hasRole(useCurrentUser().role, "owner");
  return (
    <Stack gap="lg" maw={760}>
      <Paper withBorder p="md" component="section" aria-label="Webhook signing secret">
        <Stack gap="sm">
          <Title order={2} fz="h4">
            Webhook signing secret
          </Title>
          <Text size="sm" c="dimmed">
            Every request a flow's webhook step sends carries a <Code>Herald-Signature</Code> header: an HMAC-SHA256 of its
            timestamp and body with this secret. Your receiver checks it to know the request came from Herald (docs/flows.md
            shows how).
          </Text>
          {isOwner ? (
            <SigningSecret />
          ) : (
            <Text size="sm">Only owners see and replace the signing secret.</Text>
          )}
        </Stack>
      </Paper>
    </Stack>
  );
}

function SigningSecret() {
  const queryClient = useQueryClient();
  const secret = useQuery({
    queryKey: keys.flowWebhookSettings,
    queryFn: () => call(api.GET("/api/flows/webhook-settings")),
  });
  const [rotating, setRotating] = useState(false);
  const rotate = useConfirmMutation({
    mutationFn: () => call(api.POST("/api/flows/webhook-settings/rotate")),
    onSuccess: (settings, close) => {
      queryClient.setQueryData(keys.flowWebhookSettings, settings);
      notifications.show({ color: "teal", message: "A new signing secret is in use from now on." });
      close();
    },
    onClose: () => setRotating(false),
  });
  return (
    <QueryResult query={secret} loading="Loading the secret…">
      {(settings) => (
        <>
          <Group gap="sm" wrap="nowrap">
            <Code data-testid="signing-secret" style={{ overflowWrap: "anywhere" }}>
              {settings.signing_secret}
            </Code>
            <CopyButton value={settings.signing_secret} label="Copy" />
          </Group>
          <Button variant="default" color="red" style={{ alignSelf: "flex-start" }} onClick={() => setRotating(true)}>
            Replace the secret
          </Button>
          <ConfirmDialog
            opened={rotating}
            title="Replace the signing secret?"
            confirmLabel="Replace"
            onConfirm={() => rotate.mutate()}
            {...rotate.dialog}
          >
            Requests are signed with the new secret from now on: receivers that check with the old one refuse them until
            you give them the new one.
          </ConfirmDialog>
        </>
      )}
    </QueryResult>
  );
}
