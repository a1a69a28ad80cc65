import { Anchor, Code, Collapse, Stack, Text } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { formatValue } from "../lib/format";
import { summarizeProperties } from "../lib/summary";

/** An event's properties on one or two lines, with the full JSON on demand. Text, never HTML. */
export function PropertiesSummary({ properties }: { properties: Record<string, unknown> }) {
  const [opened, { toggle }] = useDisclosure(false);
  const summary = summarizeProperties(properties);
  if (!summary) return null;
  return (
    <Stack gap={2} align="flex-start">
      {!opened && (
        <Text size="xs" c="dimmed" ff="monospace" lineClamp={2} style={{ overflowWrap: "anywhere" }}>
          {summary}
        </Text>
      )}
      <Collapse expanded={opened}>
        <Code block fz="xs">
          {formatValue(properties)}
        </Code>
      </Collapse>
      <Anchor component="button" type="button" size="xs" onClick={toggle} aria-expanded={opened}>
        {opened ? "Hide properties" : "Show properties"}
      </Anchor>
    </Stack>
  );
}
