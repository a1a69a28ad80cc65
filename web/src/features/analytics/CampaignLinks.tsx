/** A campaign's clicked links: how often, by how many people (human clicks only). */
import { Anchor, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { DownloadButton } from "../../components/DownloadButton";
import { QueryResult } from "../../components/QueryResult";
import { Section } from "../../components/Section";
import { linksQuery } from "./api";

export function CampaignLinks({ campaignId }: { campaignId: string }) {
  const links = useQuery(linksQuery(campaignId));
  return (
    <Section
      title="Link clicks"
      description="Which links people clicked, how often and how many people (clicks by link scanners left out)."
      actions={<DownloadButton href={`/api/analytics/campaigns/${campaignId}/links?format=csv`}>Export CSV</DownloadButton>}
    >
      <QueryResult query={links} loading="Loading link clicks…">
        {(table) =>
          table.data.length === 0 ? (
            <Text size="sm" c="dimmed">
              No clicks yet.
            </Text>
          ) : (
            <Table.ScrollContainer minWidth={500}>
              <Table aria-label="Link clicks">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Link</Table.Th>
                    <Table.Th ta="right">Clicks</Table.Th>
                    <Table.Th ta="right">People</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {table.data.map((row) => (
                    <Table.Tr key={row.url}>
                      <Table.Td style={{ overflowWrap: "anywhere" }}>
                        <Anchor href={row.url} target="_blank" rel="noopener noreferrer" size="sm">
                          {row.url}
                        </Anchor>
                      </Table.Td>
                      <Table.Td ta="right">{row.clicks.toLocaleString()}</Table.Td>
                      <Table.Td ta="right">{row.people.toLocaleString()}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </QueryResult>
    </Section>
  );
}
