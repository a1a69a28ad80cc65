import { Anchor, Badge, Button, Paper, Table, Text } from "@mantine/core";
import { IconPlus, IconTemplate } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { TemplateSummary } from "../../api/client";
import { templatesQuery } from "../../api/queries";
import { DateTime } from "../../components/DateTime";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, ErrorState, LoadingState } from "../../components/States";
import { KindBadge } from "./KindBadge";

export function TemplatesPage() {
  const templates = useQuery(templatesQuery);
  const newButton = (
    <Button component={Link} to="/templates/new" leftSection={<IconPlus size={16} aria-hidden />}>
      New template
    </Button>
  );
  return (
    <>
      <PageHeader
        title="Templates"
        description="The emails that campaigns, flows and the transactional API send, personalized for each recipient."
        actions={templates.data && templates.data.data.length > 0 ? newButton : undefined}
      />
      {templates.isPending ? (
        <LoadingState label="Loading templates…" />
      ) : templates.isError ? (
        <ErrorState error={templates.error} onRetry={() => void templates.refetch()} />
      ) : templates.data.data.length === 0 ? (
        <EmptyState title="No templates yet" icon={<IconTemplate aria-hidden />} action={newButton}>
          Write an email once, in MJML or HTML, with personalization such as the recipient’s first name; send it from
          campaigns, flows or the API.
        </EmptyState>
      ) : (
        <Paper withBorder>
          <TemplatesTable templates={templates.data.data} />
        </Paper>
      )}
    </>
  );
}

function TemplatesTable({ templates }: { templates: TemplateSummary[] }) {
  return (
    <Table.ScrollContainer minWidth={720}>
      <Table highlightOnHover verticalSpacing="sm" aria-label="Templates">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>Subject</Table.Th>
            <Table.Th>Format</Table.Th>
            <Table.Th>Updated</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {templates.map((template) => (
            <Table.Tr key={template.id}>
              <Table.Td>
                <Anchor component={Link} to={`/templates/${template.id}`} fw={500}>
                  {template.name}
                </Anchor>
              </Table.Td>
              <Table.Td>
                <KindBadge kind={template.kind} />
              </Table.Td>
              <Table.Td>
                <Text size="sm" lineClamp={1} ff="monospace" style={{ overflowWrap: "anywhere" }}>
                  {template.subject}
                </Text>
              </Table.Td>
              <Table.Td>
                <Badge variant="outline" color="gray" size="sm">
                  {template.body_format === "mjml" ? "MJML" : "HTML"}
                </Badge>
              </Table.Td>
              <Table.Td>
                <Text size="sm">
                  <DateTime value={template.updated_at} relative />
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
