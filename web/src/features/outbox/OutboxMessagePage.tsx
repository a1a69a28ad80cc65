/** One stored email, read the way a mail client would: HTML, text, headers, and the raw file. */
import {
  Anchor,
  Button,
  Group,
  Paper,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Tabs,
  Text,
  Title,
} from "@mantine/core";
import { IconListDetails } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import type { OutboxMessage } from "../../api/client";
import { outboxMessageQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { DownloadButton } from "../../components/DownloadButton";
import { LabeledValue } from "../../components/LabeledValue";
import { EmailFrame, TextPart, WidthToggle, type FrameWidth } from "../../components/EmailFrame";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { QueryResult } from "../../components/QueryResult";
import { NotFoundState } from "../../components/States";
import { formatCount } from "../../lib/format";
import { MessageStatusBadge } from "../messages/MessageStatusBadge";
import { KindBadge } from "../templates/KindBadge";

export function OutboxMessagePage() {
  const { messageId = "" } = useParams();
  const stored = useQuery(outboxMessageQuery(messageId));
  return (
    <>
      <PageBreadcrumbs links={[{ to: "/outbox", label: "Outbox" }]} current={stored.data?.subject ?? "Email"} />
      <QueryResult
        query={stored}
        loading="Loading the email…"
        notFound={
          <NotFoundState thing="email" title="The outbox does not hold this email">
            It may have been sent through another provider, or the address is wrong.{" "}
            <Anchor component={Link} to={`/messages/${messageId}`}>
              Look for the message
            </Anchor>
            .
          </NotFoundState>
        }
      >
        {(data) => <StoredEmail email={data} />}
      </QueryResult>
    </>
  );
}

function StoredEmail({ email }: { email: OutboxMessage }) {
  const [width, setWidth] = useState<FrameWidth>("desktop");
  const [remoteImages, setRemoteImages] = useState(false);
  return (
    <>
      <PageHeader
        title={email.subject || "(no subject)"}
        actions={
          <>
            <Button
              component={Link}
              to={`/messages/${email.id}`}
              variant="default"
              leftSection={<IconListDetails size={16} aria-hidden />}
            >
              Message details
            </Button>
            <DownloadButton href={`/api/outbox/${email.id}/raw`} fileName={`${email.id}.eml`}>
              Download .eml
            </DownloadButton>
          </>
        }
      />
      <Stack gap="lg">
        <Paper withBorder p="md" component="section" aria-label="Envelope">
          <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} spacing="sm">
            <LabeledValue label="From">{email.from ?? "—"}</LabeledValue>
            <LabeledValue label="To">{email.to ?? email.message.to_address}</LabeledValue>
            <LabeledValue label="Date">{email.date ?? <DateTime value={email.message.sent_at} />}</LabeledValue>
            <LabeledValue label="Status">
              <Group gap="xs">
                <MessageStatusBadge status={email.message.status} />
                <KindBadge marketing={email.message.marketing} />
              </Group>
            </LabeledValue>
            <LabeledValue label="Size">{formatCount(email.size)} bytes</LabeledValue>
          </SimpleGrid>
        </Paper>
        <Paper withBorder p="md" component="section" aria-labelledby="content-title">
          <Group justify="space-between" mb="sm">
            <Title order={2} fz="h4" id="content-title">
              Content
            </Title>
            <Group gap="md">
              <Switch
                size="sm"
                label="Load remote images"
                description={email.message.marketing ? "The open pixel would record an open." : undefined}
                checked={remoteImages}
                onChange={(event) => setRemoteImages(event.currentTarget.checked)}
              />
              <WidthToggle value={width} onChange={setWidth} />
            </Group>
          </Group>
          <Tabs defaultValue={email.html ? "html" : "text"}>
            <Tabs.List aria-label="Parts">
              <Tabs.Tab value="html" disabled={!email.html}>
                HTML
              </Tabs.Tab>
              <Tabs.Tab value="text">Plain text</Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="html" pt="sm">
              {email.html && (
                <EmailFrame html={email.html} title="Email as sent" width={width} remoteImages={remoteImages} />
              )}
            </Tabs.Panel>
            <Tabs.Panel value="text" pt="sm">
              <TextPart text={email.text} />
            </Tabs.Panel>
          </Tabs>
        </Paper>
        <Paper withBorder p="md" component="section" aria-labelledby="headers-title">
          <Title order={2} fz="h4" id="headers-title" mb="sm">
            Headers
          </Title>
          <Table.ScrollContainer minWidth={560}>
            <Table verticalSpacing={4} layout="fixed" aria-label="Headers">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th w="28%">Name</Table.Th>
                  <Table.Th>Value</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {email.headers.map((header, index) => (
                  <Table.Tr key={`${header.name}-${index}`}>
                    <Table.Td>
                      <Text size="sm" fw={500} ff="monospace" style={{ wordBreak: "break-word" }}>
                        {header.name}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm" ff="monospace" style={{ wordBreak: "break-all" }}>
                        {header.value}
                      </Text>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Paper>
      </Stack>
    </>
  );
}
