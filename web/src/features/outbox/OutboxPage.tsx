/** The outbox: every email the default provider kept on this machine instead of sending. */
import { Anchor, Badge, Button, Group, Paper, Table, Text, TextInput } from "@mantine/core";
import { IconList, IconMail, IconRefresh, IconSearch } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import type { OutboxEntry } from "../../api/client";
import { outboxQuery } from "../../api/queries";
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

export function OutboxPage() {
  const [to, setTo] = useState("");
  const [typed, setTyped] = useState("");
  const [pages, setPages] = useState<CursorPages>(FIRST_PAGE);
  const outbox = useQuery({ ...outboxQuery(to, currentCursor(pages)), refetchInterval: 10_000 });
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
          setPages(FIRST_PAGE);
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
                setPages(FIRST_PAGE);
              }}
            >
              Show all
            </Button>
          )}
        </Group>
      </form>
      {outbox.isPending ? (
        <LoadingState label="Loading the outbox…" />
      ) : outbox.isError ? (
        <ErrorState error={outbox.error} onRetry={() => void outbox.refetch()} />
      ) : outbox.data.data.length === 0 ? (
        <EmptyState title={to ? `No email to ${to}` : "The outbox is empty"} icon={<IconMail aria-hidden />}>
          {to
            ? "The outbox holds no email to this exact address."
            : "Emails sent through the outbox provider appear here, from campaigns, flows and the transactional API (POST /api/messages/email)."}
        </EmptyState>
      ) : (
        <>
          <Paper withBorder>
            <OutboxTable entries={outbox.data.data} />
          </Paper>
          <Pager
            page={pageNumber(pages)}
            hasPrevious={hasPreviousPage(pages)}
            hasNext={Boolean(outbox.data.next_cursor)}
            onPrevious={() => setPages(previousPage(pages))}
            onNext={() => setPages(nextPage(pages, outbox.data.next_cursor))}
            busy={outbox.isFetching}
          />
        </>
      )}
    </>
  );
}

function OutboxTable({ entries }: { entries: OutboxEntry[] }) {
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table highlightOnHover verticalSpacing="sm" aria-label="Outbox">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>To</Table.Th>
            <Table.Th>Subject</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Sent</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
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
              <Table.Td>
                <Text size="sm">
                  <DateTime value={entry.sent_at ?? entry.created_at} relative />
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
