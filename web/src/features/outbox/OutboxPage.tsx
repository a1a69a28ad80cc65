/** The outbox: every email the default provider kept on this machine instead of sending. */
import { Anchor, Badge, Button, Group, Table, Text, TextInput } from "@mantine/core";
import { IconList, IconMail, IconRefresh, IconSearch } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import type { OutboxEntry } from "../../api/client";
import { outboxQuery } from "../../api/queries";
import { DataTable, DateCell } from "../../components/DataTable";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { useCursorPages } from "../../components/useCursorPages";
import { KindBadge } from "../templates/KindBadge";

export function OutboxPage() {
  const [to, setTo] = useState("");
  const [typed, setTyped] = useState("");
  const pages = useCursorPages();
  const outbox = useQuery({ ...outboxQuery(to, pages.cursor), refetchInterval: 10_000 });
  return (
    <>
      <PageHeader
        title="Outbox"
        description="Emails that the outbox provider kept on this machine instead of sending them: nothing here reached anyone. It is the provider until SMTP is set up in Settings → Email."
        actions={
          <>
            <Button
              variant="default"
              leftSection={<IconRefresh size={16} aria-hidden />}
              loading={outbox.isFetching && !outbox.isPending}
              onClick={() => void outbox.refetch()}
            >
              Refresh
            </Button>
            <Button component={Link} to="/messages" variant="default" leftSection={<IconList size={16} aria-hidden />}>
              All messages
            </Button>
          </>
        }
      />
      <form
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          setTo(typed.trim());
          pages.reset();
        }}
      >
        <Group mb="md" align="flex-end">
          <TextInput
            label="Recipient"
            placeholder="someone@example.com"
            type="search"
            w={320}
            value={typed}
            onChange={(event) => setTyped(event.currentTarget.value)}
          />
          <Button type="submit" variant="default" leftSection={<IconSearch size={16} aria-hidden />}>
            Search
          </Button>
          {to && (
            <Button
              variant="subtle"
              onClick={() => {
                setTo("");
                setTyped("");
                pages.reset();
              }}
            >
              Show all
            </Button>
          )}
        </Group>
      </form>
      <QueryList
        query={outbox}
        loading="Loading the outbox…"
        pager={pages.pager}
        empty={
          <EmptyState title={to ? `No email to ${to}` : "The outbox is empty"} icon={<IconMail aria-hidden />}>
            {to
              ? "The outbox holds no email to this exact address."
              : "Emails sent through the outbox provider appear here, from campaigns, flows and the transactional API (POST /api/messages/email)."}
          </EmptyState>
        }
      >
        {(entries) => <OutboxTable entries={entries} />}
      </QueryList>
    </>
  );
}

function OutboxTable({ entries }: { entries: OutboxEntry[] }) {
  return (
    <DataTable label="Outbox" minWidth={760} columns={["To", "Subject", "Kind", "Status", "Sent"]}>
      {entries.map((entry) => (
        <Table.Tr key={entry.id}>
          <Table.Td>
            <Text size="sm" style={{ overflowWrap: "anywhere" }}>
              {entry.to_address}
            </Text>
          </Table.Td>
          <Table.Td>
            <Anchor component={Link} to={`/outbox/${entry.id}`} fw={500} style={{ overflowWrap: "anywhere" }}>
              {entry.subject || "(no subject)"}
            </Anchor>
            {entry.from_address && (
              <Text size="xs" c="dimmed">
                from {entry.from_address}
              </Text>
            )}
          </Table.Td>
          <Table.Td>
            <KindBadge marketing={entry.marketing} />
          </Table.Td>
          <Table.Td>
            {/* The outbox lists the messages it stored, which are sent by definition. */}
            <Badge variant="light" color="teal">
              Sent
            </Badge>
          </Table.Td>
          <DateCell value={entry.sent_at ?? entry.created_at} relative />
        </Table.Tr>
      ))}
    </DataTable>
  );
}
