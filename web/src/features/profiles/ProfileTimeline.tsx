import { Anchor, Badge, Button, Group, Stack, Text, Timeline } from "@mantine/core";
import { IconActivity, IconMail } from "@tabler/icons-react";
import { Link } from "react-router";
import { useInfiniteQuery } from "@tanstack/react-query";
import type { TimelineEntry } from "../../api/client";
import { timelineQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { PropertiesSummary } from "../../components/PropertiesSummary";
import { flattenPages } from "../../lib/paging";
import { MessageStatusBadge } from "../messages/MessageStatusBadge";
import { isMessageStatus, sourceLabel } from "../messages/status";
import { MessageEngagement } from "./MessageEngagement";

/** The person's history, newest first, loading older entries on demand. */
export function ProfileTimeline({ profileId }: { profileId: string }) {
  const timeline = useInfiniteQuery(timelineQuery(profileId));
  if (timeline.isPending) return <LoadingState label="Loading the timeline…" />;
  if (timeline.isError && !timeline.data) {
    return <ErrorState error={timeline.error} onRetry={() => void timeline.refetch()} />;
  }
  const entries = flattenPages(timeline.data?.pages);
  if (entries.length === 0) {
    return (
      <EmptyState title="Nothing happened yet" icon={<IconActivity aria-hidden />}>
        Events this person does and messages sent to them appear here, newest first.
      </EmptyState>
    );
  }
  return (
    <Stack>
      <Timeline bulletSize={14} lineWidth={2} aria-label="Events and messages, newest first">
        {entries.map((entry) => (
          <Timeline.Item key={entry.id} title={<EntryTitle entry={entry} />}>
            <EntryDetails entry={entry} />
            {entry.kind === "message" && <MessageEngagement entry={entry} />}
          </Timeline.Item>
        ))}
      </Timeline>
      {timeline.isError && <ErrorState error={timeline.error} onRetry={() => void timeline.fetchNextPage()} />}
      {timeline.hasNextPage && (
        <Group>
          <Button
            variant="default"
            onClick={() => void timeline.fetchNextPage()}
            loading={timeline.isFetchingNextPage}
          >
            Load older events
          </Button>
        </Group>
      )}
    </Stack>
  );
}

function EntryTitle({ entry }: { entry: TimelineEntry }) {
  if (entry.kind === "message") return <MessageTitle entry={entry} />;
  return (
    <Group gap="xs" wrap="wrap">
      <Text fw={600} size="sm">
        {entry.name}
      </Text>
      {entry.value != null && (
        <Badge size="sm" variant="light" color="teal">
          value {entry.value}
        </Badge>
      )}
      <Text size="xs" c="dimmed">
        <DateTime value={entry.time} />
      </Text>
    </Group>
  );
}

/** A message sent to the person: its subject links to the message's page. */
function MessageTitle({ entry }: { entry: TimelineEntry }) {
  const status = entry.properties.status;
  const channel = entry.properties.channel === "sms" ? "SMS" : "Email";
  return (
    <Group gap="xs" wrap="wrap">
      <IconMail size={14} aria-label={channel} />
      <Anchor component={Link} to={`/messages/${entry.id}`} fw={600} size="sm">
        {entry.name}
      </Anchor>
      {isMessageStatus(status) && <MessageStatusBadge status={status} />}
      <Text size="xs" c="dimmed">
        <DateTime value={entry.time} />
      </Text>
    </Group>
  );
}

function EntryDetails({ entry }: { entry: TimelineEntry }) {
  if (entry.kind === "message") {
    const to = entry.properties.to;
    const source = entry.properties.source;
    return (
      <Text size="xs" c="dimmed">
        {typeof source === "string" ? sourceLabel(source) : "Message"}
        {typeof to === "string" && to ? ` to ${to}` : ""}
      </Text>
    );
  }
  return <PropertiesSummary properties={entry.properties} />;
}
