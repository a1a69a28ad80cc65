import { Anchor, Badge, Button, Table, Text } from "@mantine/core";
import { IconLayoutGrid, IconPhoto, IconTemplate } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import type { TemplateSummary } from "../../api/client";
import { templatesQuery } from "../../api/queries";
import { DataTable, DateCell } from "../../components/DataTable";
import { NewButton } from "../../components/NewButton";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { KindBadge } from "./KindBadge";
import { StarterPicker } from "./StarterPicker";

export function TemplatesPage() {
  const templates = useQuery(templatesQuery);
  const [startersOpen, setStartersOpen] = useState(false);
  const starterButton = (
    <Button variant="default" leftSection={<IconLayoutGrid size={16} aria-hidden />} onClick={() => setStartersOpen(true)}>
      Start from a starter
    </Button>
  );
  const newButton = <NewButton to="/templates/new">New template</NewButton>;
  const imagesButton = (
    <Button component={Link} to="/templates/images" variant="default" leftSection={<IconPhoto size={16} aria-hidden />}>
      Images
    </Button>
  );
  return (
    <>
      <PageHeader
        title="Templates"
        description="The emails that campaigns, flows and the transactional API send, personalized for each recipient."
        actions={
          <>
            {imagesButton}
            {starterButton}
            {templates.data && templates.data.data.length > 0 && newButton}
          </>
        }
      />
      <QueryList
        query={templates}
        loading="Loading templates…"
        empty={
          <EmptyState title="No templates yet" icon={<IconTemplate aria-hidden />} action={newButton}>
            Write an email once, in MJML or HTML, with personalization such as the recipient’s first name; send it from
            campaigns, flows or the API.
          </EmptyState>
        }
      >
        {(items) => <TemplatesTable templates={items} />}
      </QueryList>
      <StarterPicker opened={startersOpen} onClose={() => setStartersOpen(false)} />
    </>
  );
}

function TemplatesTable({ templates }: { templates: TemplateSummary[] }) {
  return (
    <DataTable label="Templates" minWidth={720} columns={["Name", "Kind", "Subject", "Format", "Updated"]}>
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
          <DateCell value={template.updated_at} relative />
        </Table.Tr>
      ))}
    </DataTable>
  );
}
