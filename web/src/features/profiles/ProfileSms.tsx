/** The profile's SMS conversation: what Herald sent (with its delivery status) and what the person
 * texted back, keywords (STOP, START, HELP) marked, oldest at the top like a phone shows it. */
import { Badge, Box, Group, ScrollArea, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ConversationEntry } from "../../api/client";
import { profileSmsQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { ErrorState } from "../../components/States";

const STATUS_COLORS: Record<string, string> = {
  delivered: "teal",
  sent: "blue",
  queued: "gray",
  sending: "gray",
  failed: "red",
  suppressed: "orange",
  skipped: "orange",
};

export function ProfileSms({ profileId }: { profileId: string }) {
  const conversation = useQuery(profileSmsQuery(profileId));
  if (conversation.isPending) {
    return (
      <Text size="sm" c="dimmed">
        Loading…
      </Text>
    );
  }
  if (conversation.isError) {
    return <ErrorState error={conversation.error} onRetry={() => void conversation.refetch()} />;
  }
  const entries = [...conversation.data.data].reverse();
  if (entries.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        No text messages yet.
      </Text>
    );
  }
  return (
    <ScrollArea.Autosize mah={420} type="auto">
      <Stack gap="xs" role="list" aria-label="SMS conversation">
        {entries.map((entry) => (
          <Bubble key={`${entry.direction}-${entry.id}`} entry={entry} />
        ))}
      </Stack>
    </ScrollArea.Autosize>
  );
}

function Bubble({ entry }: { entry: ConversationEntry }) {
  const outbound = entry.direction === "outbound";
  return (
    <Box
      role="listitem"
      data-testid={`sms-${entry.direction}`}
      maw="85%"
      ml={outbound ? "auto" : 0}
      p="xs"
      style={{
        background: outbound ? "var(--mantine-color-blue-0)" : "var(--mantine-color-gray-1)",
        borderRadius: 12,
      }}
    >
      <Text size="sm" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
        {entry.body}
      </Text>
      <Group gap={6} mt={4} justify={outbound ? "flex-end" : "flex-start"}>
        <Text size="xs" c="dimmed">
          {outbound ? "Sent" : "Received"} <DateTime value={entry.time} />
        </Text>
        {outbound && entry.status && (
          <Badge size="xs" variant="light" color={STATUS_COLORS[entry.status] ?? "gray"}>
            {entry.status}
          </Badge>
        )}
        {entry.keyword && (
          <Badge size="xs" variant="filled" color={entry.keyword === "stop" ? "red" : entry.keyword === "start" ? "teal" : "gray"}>
            {entry.keyword.toUpperCase()}
          </Badge>
        )}
      </Group>
    </Box>
  );
}
