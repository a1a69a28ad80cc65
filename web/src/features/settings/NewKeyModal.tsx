import { Alert, Button, Code, Group, Modal, Stack, Text } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import type { ApiKeyCreated } from "../../api/client";
import { CopyButton } from "../../components/CopyButton";

/** The only time Herald shows a key in full. */
export function NewKeyModal({ apiKey, onClose }: { apiKey: ApiKeyCreated | null; onClose: () => void }) {
  return (
    <Modal
      opened={apiKey !== null}
      onClose={onClose}
      title="Your new API key"
      centered
      size="lg"
      closeOnClickOutside={false}
    >
      {apiKey && (
        <Stack>
          <Text size="sm">
            <strong>{apiKey.name}</strong> ({apiKey.kind})
          </Text>
          <Group gap="xs" wrap="nowrap" align="center">
            <Code fz="sm" style={{ wordBreak: "break-all" }} data-testid="new-api-key">
              {apiKey.key}
            </Code>
            <CopyButton value={apiKey.key} label="Copy key" />
          </Group>
          <Alert color="yellow" variant="light" icon={<IconAlertTriangle aria-hidden />}>
            Copy the key now: Herald stores only a hash of it and cannot show it again.
            {apiKey.kind === "secret" && " Keep a secret key on your servers; never put it in a web page."}
          </Alert>
          <Group justify="flex-end">
            <Button onClick={onClose}>I have copied it</Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}
