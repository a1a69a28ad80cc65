import { Anchor, Badge, Button, Group, Select, Stack, Table, Text } from "@mantine/core";
import { IconRefresh } from "@tabler/icons-react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { HeraldEvent } from "../../api/client";
import { eventsQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { PropertiesSummary } from "../../components/PropertiesSummary";
import { flattenPages } from "../../lib/paging";

/** The newest events first, optionally of one name, with older ones loaded on demand. */
export function EventStream({
  names,
  name,
  onNameChange,
  onRefresh,
}: {
  names: string[];
  name: string | null;
  onNameChange: (name: string | null) => void;
  onRefresh: () => void;
}) {
  const events = useInfiniteQuery(eventsQuery(name));
  const refresh = () => {
    onRefresh();
    void events.refetch();
  };
  const options = [...new Set(name ? [...names, name] : names)].sort((a, b) => a.localeCompare(b));

  return (
    <Stack>
      <Group align="flex-end" justify="space-between">
        <Select
          label="Event name"
          placeholder="All events"
          data={options}
          value={name}
          onChange={onNameChange}
          clearable
          searchable
          w={280}
          nothingFoundMessage="No event by that name"
        />
        <Button
          variant="default"
          leftSection={<IconRefresh size={16} aria-hidden />}
          onClick={refresh}
          loading={events.isRefetching && !events.isFetchingNextPage}
        >
          Refresh
        </Button>
      </Group>
      {events.isPending ? (
        <LoadingState label="Loading recent events…" />
      ) : events.isError && !events.data ? (
        <ErrorState error={events.error} onRetry={() => void events.refetch()} />
      ) : flattenPages(events.data.pages).length === 0 ? (
        <EmptyState title={name ? `No “${name}” events` : "No events yet"}>
          {name ? "Pick another name, or clear the filter." : "Events appear here as they arrive."}
        </EmptyState>
      ) : (
        <>
          <EventList items={flattenPages(events.data.pages)} />
          {events.isError && (
            <ErrorState error={events.error} onRetry={() => void events.fetchNextPage()} />
          )}
          {events.hasNextPage && (
            <Group>
              <Button
                variant="default"
                onClick={() => void events.fetchNextPage()}
                loading={events.isFetchingNextPage}
              >
                Load older events
              </Button>
            </Group>
          )}
        </>
      )}
    </Stack>
  );
}

export function EventList({ items }: { items: HeraldEvent[] }) {
  return (
    <Table.ScrollContainer minWidth={520}>
      <Table verticalSpacing="xs" aria-label="Recent events">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Event</Table.Th>
            <Table.Th>When</Table.Th>
            <Table.Th>Profile</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((event) => (
            <Table.Tr key={event.id}>
              <Table.Td>
                <Stack gap={4}>
                  <Group gap="xs">
                    <Text size="sm" fw={500}>
                      {event.name}
                    </Text>
                    {event.value != null && (
                      <Badge size="xs" variant="light" color="teal">
                        value {event.value}
                      </Badge>
                    )}
                  </Group>
                  <PropertiesSummary properties={event.properties} />
                </Stack>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  <DateTime value={event.time} />
                </Text>
              </Table.Td>
              <Table.Td>
                <Anchor component={Link} to={`/profiles/${event.profile_id}`} size="sm">
                  View profile
                </Anchor>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
