/** Every message in the ledger, whichever provider sent it, newest first. */
import { Anchor, Group, Paper, Select, Table, Text } from "@mantine/core";
import { IconMail } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import type { Message, MessageStatus } from "../../api/client";
import { messagesQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { PageHeader } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import {
  currentCursor,
  FIRST_PAGE,
  hasPreviousPage,
  nextPage,
  pageNumber,
  previousPage,
  type CursorPages,
} from "../../lib/paging";
import { KindBadge } from "../templates/KindBadge";
import { MessageStatusBadge } from "./MessageStatusBadge";
import { isInFlight, STATUS_LABELS, STATUSES } from "./status";

export function MessagesPage() {
  const [status, setStatus] = useState<"" | MessageStatus>("");
  const [pages, setPages] = useState<CursorPages>(FIRST_PAGE);
  const messages = useQuery({
    ...messagesQuery(status, currentCursor(pages)),
    refetchInterval: (query) => (query.state.data?.data.some((m) => isInFlight(m.status)) ? 2000 : false),
  });
  return (
    <>
      <PageHeader
        title="Messages"
        description="Every message Herald has queued or sent, through any provider, newest first."
      />
      <Group mb="md">
        <Select
          label="Status"
          w={220}
          value={status}
          allowDeselect={false}
          data={[{ value: "", label: "Any status" }, ...STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] }))]}
          onChange={(value) => {
            setStatus((value ?? "") as "" | MessageStatus);
            setPages(FIRST_PAGE);
          }}
        />
      </Group>
      {messages.isPending ? (
        <LoadingState label="Loading messages…" />
      ) : messages.isError ? (
        <ErrorState error={messages.error} onRetry={() => void messages.refetch()} />
      ) : messages.data.data.length === 0 ? (
        <EmptyState title={status ? `No ${STATUS_LABELS[status].toLowerCase()} messages` : "No messages yet"} icon={<IconMail aria-hidden />}>
          Messages from campaigns, flows and the transactional API (POST /api/messages/email) appear here.
        </EmptyState>
      ) : (
        <>
          <Paper withBorder>
            <MessagesTable messages={messages.data.data} />
          </Paper>
          <Pager
            page={pageNumber(pages)}
            hasPrevious={hasPreviousPage(pages)}
            hasNext={Boolean(messages.data.next_cursor)}
            onPrevious={() => setPages(previousPage(pages))}
            onNext={() => setPages(nextPage(pages, messages.data.next_cursor))}
            busy={messages.isFetching}
          />
        </>
      )}
    </>
  );
}

function MessagesTable({ messages }: { messages: Message[] }) {
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table highlightOnHover verticalSpacing="sm" aria-label="Messages">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>To</Table.Th>
            <Table.Th>Subject</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Created</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {messages.map((message) => (
            <Table.Tr key={message.id}>
              <Table.Td>
                <Text size="sm" style={{ overflowWrap: "anywhere" }}>
                  {message.to_address}
                </Text>
              </Table.Td>
              <Table.Td>
                <Anchor component={Link} to={`/messages/${message.id}`} fw={500} style={{ overflowWrap: "anywhere" }}>
                  {message.subject || "(not rendered yet)"}
                </Anchor>
              </Table.Td>
              <Table.Td>
                <KindBadge marketing={message.marketing} />
              </Table.Td>
              <Table.Td>
                <MessageStatusBadge status={message.status} />
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  <DateTime value={message.created_at} relative />
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
