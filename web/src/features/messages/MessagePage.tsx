/** One message from the ledger: its status, timestamps, provider ids, error and history. */
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Group,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Title,
} from "@mantine/core";
import { IconAlertTriangle, IconMail } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import type { MessageDetail, MessageEvent } from "../../api/client";
import { messageQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { LabeledValue } from "../../components/LabeledValue";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { PropertiesSummary } from "../../components/PropertiesSummary";
import { QueryResult } from "../../components/QueryResult";
import { NotFoundState } from "../../components/States";
import { KindBadge } from "../templates/KindBadge";
import { MessageStatusBadge } from "./MessageStatusBadge";
import { eventColor, eventLabel, isInFlight, sourceLabel, sourcePath } from "./status";

export function MessagePage() {
  const { messageId = "" } = useParams();
  const message = useQuery({
    ...messageQuery(messageId),
    // A queued message is followed until a worker has sent it (or given up).
    refetchInterval: (query) => (query.state.data && isInFlight(query.state.data.status) ? 1500 : false),
  });
  return (
    <>
      <PageBreadcrumbs links={[{ to: "/messages", label: "Messages" }]} current={message.data?.subject ?? "Message"} />
      <QueryResult
        query={message}
        loading="Loading the message…"
        notFound={
          <NotFoundState thing="message">
            The address may be wrong.
          </NotFoundState>
        }
      >
        {(data) => <MessageDetails message={data} />}
      </QueryResult>
    </>
  );
}

function MessageDetails({ message }: { message: MessageDetail }) {
  const inOutbox = message.provider === "outbox" && message.sent_at !== null;
  return (
    <>
      <PageHeader
        title={message.subject || `${message.channel === "email" ? "Email" : "Message"} to ${message.to_address}`}
        description={message.subject ? `To ${message.to_address}` : "The subject is filled in when the message is rendered."}
        actions={
          inOutbox ? (
            <Button component={Link} to={`/outbox/${message.id}`} variant="default" leftSection={<IconMail size={16} aria-hidden />}>
              View in outbox
            </Button>
          ) : undefined
        }
      />
      <Stack gap="lg">
        {message.error && (
          <Alert color="red" variant="light" icon={<IconAlertTriangle aria-hidden />} title="Error">
            <Text size="sm" style={{ overflowWrap: "anywhere" }}>
              {message.error}
            </Text>
          </Alert>
        )}
        <Paper withBorder p="md" component="section" aria-label="Message">
          <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} spacing="md">
            <LabeledValue label="Status">
              <Group gap="xs">
                <MessageStatusBadge status={message.status} />
                <KindBadge marketing={message.marketing} />
              </Group>
            </LabeledValue>
            <LabeledValue label="To">
              {message.profile_id ? (
                <Anchor component={Link} to={`/profiles/${message.profile_id}`} size="sm">
                  {message.to_address}
                </Anchor>
              ) : (
                message.to_address
              )}
            </LabeledValue>
            <LabeledValue label="From">{message.from_address ?? "—"}</LabeledValue>
            <LabeledValue label="Source">
              <MessageSource message={message} />
            </LabeledValue>
            <LabeledValue label="Template">
              {message.template_id ? (
                <Anchor component={Link} to={`/templates/${message.template_id}`} size="sm">
                  Open the template
                </Anchor>
              ) : (
                "None (subject and body given with the send)"
              )}
            </LabeledValue>
            <LabeledValue label="Attempts">{message.attempts}</LabeledValue>
            <LabeledValue label="Provider">{message.provider ?? "—"}</LabeledValue>
            <LabeledValue label="Provider message id">
              <Text span size="sm" ff="monospace" style={{ wordBreak: "break-all" }}>
                {message.provider_message_id ?? "—"}
              </Text>
            </LabeledValue>
            <LabeledValue label="Herald message id">
              <Text span size="sm" ff="monospace">
                {message.id}
              </Text>
            </LabeledValue>
            <LabeledValue label="Created">
              <DateTime value={message.created_at} />
            </LabeledValue>
            {message.send_after && (
              <LabeledValue label="Not before">
                <DateTime value={message.send_after} />
              </LabeledValue>
            )}
            <LabeledValue label="Sent">
              <DateTime value={message.sent_at} />
            </LabeledValue>
            <LabeledValue label="Delivered">
              <DateTime value={message.delivered_at} />
            </LabeledValue>
            <LabeledValue label="Updated">
              <DateTime value={message.updated_at} />
            </LabeledValue>
          </SimpleGrid>
        </Paper>
        <Paper withBorder p="md" component="section" aria-labelledby="events-title">
          <Title order={2} fz="h4" id="events-title" mb="sm">
            What happened
          </Title>
          <EventsTable events={message.events} />
        </Paper>
      </Stack>
    </>
  );
}

function EventsTable({ events }: { events: MessageEvent[] }) {
  if (events.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        Nothing yet.
      </Text>
    );
  }
  return (
    <Table.ScrollContainer minWidth={560}>
      <Table verticalSpacing="xs" aria-label="Message events">
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={200}>Event</Table.Th>
            <Table.Th w={200}>Time</Table.Th>
            <Table.Th>Details</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {events.map((event) => (
            <Table.Tr key={event.id}>
              <Table.Td>
                <Group gap={6}>
                  <Badge variant="light" color={eventColor(event.kind)}>
                    {eventLabel(event.kind)}
                  </Badge>
                  {event.machine && (
                    <Badge
                      variant="outline"
                      color="gray"
                      size="sm"
                      title="By a mail server or privacy proxy (such as Apple Mail Privacy Protection), not necessarily the person"
                    >
                      machine
                    </Badge>
                  )}
                </Group>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  <DateTime value={event.at} seconds />
                </Text>
              </Table.Td>
              <Table.Td>
                <EventDetails event={event} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function EventDetails({ event }: { event: MessageEvent }) {
  const { url, ...rest } = event.data;
  return (
    <Stack gap={2}>
      {typeof url === "string" && (
        <Text size="sm" style={{ wordBreak: "break-all" }}>
          {url}
        </Text>
      )}
      <PropertiesSummary properties={rest} />
    </Stack>
  );
}

/** What sent the message, and a link to the campaign or flow by its name. */
function MessageSource({ message }: { message: MessageDetail }) {
  const path = sourcePath(message.source, message.source_id);
  const thing = message.source === "flow" ? "flow" : "campaign";
  return (
    <Stack gap={0} data-testid="message-source">
      <Text size="sm">{sourceLabel(message.source)}</Text>
      {path &&
        (message.source_name ? (
          <Anchor component={Link} to={path} size="sm" style={{ overflowWrap: "anywhere" }}>
            {message.source_name}
          </Anchor>
        ) : (
          <Text size="sm" c="dimmed">
            (a deleted {thing})
          </Text>
        ))}
    </Stack>
  );
}
