/** Every message in the ledger, whichever provider sent it, newest first. */
import { Anchor, Group, Table, Text } from "@mantine/core";
import { IconMail } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import type { Message, MessageStatus } from "../../api/client";
import { messagesQuery } from "../../api/queries";
import { DataTable, DateCell } from "../../components/DataTable";
import { FilterSelect } from "../../components/FilterSelect";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { useCursorPages } from "../../components/useCursorPages";
import { KindBadge } from "../templates/KindBadge";
import { MessageStatusBadge } from "./MessageStatusBadge";
import { isInFlight, STATUS_LABELS, STATUSES } from "./status";

const STATUS_OPTIONS = STATUSES.map((s) => ({ value: s, label: STATUS_LABELS[s] }));

export function MessagesPage() {
  const [status, setStatus] = useState<"" | MessageStatus>("");
  const pages = useCursorPages();
  const messages = useQuery({
    ...messagesQuery(status, pages.cursor),
    refetchInterval: (query) => (query.state.data?.data.some((m) => isInFlight(m.status)) ? 2000 : false),
  });
  return (
    <>
      <PageHeader
        title="Messages"
        description="Every message Herald has queued or sent, through any provider, newest first."
      />
      <Group mb="md">
        <FilterSelect
          label="Status"
          w={220}
          anyLabel="Any status"
          options={STATUS_OPTIONS}
          value={status}
          onChange={(value) => {
            setStatus(value);
            pages.reset();
          }}
        />
      </Group>
      <QueryList
        query={messages}
        loading="Loading messages…"
        pager={pages.pager}
        empty={
          <EmptyState title={status ? `No ${STATUS_LABELS[status].toLowerCase()} messages` : "No messages yet"} icon={<IconMail aria-hidden />}>
            Messages from campaigns, flows and the transactional API (POST /api/messages/email) appear here.
          </EmptyState>
        }
      >
        {(items) => <MessagesTable messages={items} />}
      </QueryList>
    </>
  );
}

function MessagesTable({ messages }: { messages: Message[] }) {
  return (
    <DataTable label="Messages" minWidth={760} columns={["To", "Subject", "Kind", "Status", "Created"]}>
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
          <DateCell value={message.created_at} relative />
        </Table.Tr>
      ))}
    </DataTable>
  );
}
