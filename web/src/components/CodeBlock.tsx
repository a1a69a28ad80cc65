import { Code, Group, Stack, Text } from "@mantine/core";
import { CopyButton } from "./CopyButton";

/** Preformatted code with a copy button. The code is text, never HTML. */
export function CodeBlock({ code, label, caption }: { code: string; label: string; caption?: string }) {
  return (
    <Stack gap={6}>
      <Group justify="space-between">
        <Text size="xs" c="dimmed">
          {caption}
        </Text>
        <CopyButton value={code} description={label} />
      </Group>
      <Code block fz="sm" aria-label={label} style={{ whiteSpace: "pre-wrap", overflowWrap: "anywhere" }}>
        {code}
      </Code>
    </Stack>
  );
}
