/** Every campaign, newest first: its status, recipients and when it goes or went. */
import { Anchor, Table, Text } from "@mantine/core";
import { IconSend } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { Campaign } from "../../api/client";
import { campaignsQuery } from "../../api/queries";
import { DataTable } from "../../components/DataTable";
import { DateTime } from "../../components/DateTime";
import { NewButton } from "../../components/NewButton";
import { PageHeader } from "../../components/PageHeader";
import { QueryList } from "../../components/QueryResult";
import { EmptyState } from "../../components/States";
import { formatCount } from "../../lib/format";
import { CampaignStatusBadge } from "./CampaignStatusBadge";
import { isLive, LIVE_REFRESH_MS, sentCount } from "./status";
import { sourcesQuery, type SourceRow } from "../analytics/api";
import { formatMoney, formatRate, lastDays } from "../analytics/format";

export function CampaignsPage() {
  const campaigns = useQuery({
    ...campaignsQuery,
    // While a campaign is scheduled or sending, its status and counts are followed.
    refetchInterval: (query) => (query.state.data?.data.some((c) => isLive(c.status)) ? LIVE_REFRESH_MS : false),
  });
  const newButton = <NewButton to="/campaigns/new">New campaign</NewButton>;
  return (
    <>
      <PageHeader
        title="Campaigns"
        description="One email to the members of your segments: now, at a time, or at a time in each person's time zone, with A/B tests of subjects, content, senders and send times."
        actions={campaigns.data && campaigns.data.data.length > 0 ? newButton : undefined}
      />
      <QueryList
        query={campaigns}
        loading="Loading campaigns…"
        empty={
          <EmptyState title="No campaigns yet" icon={<IconSend aria-hidden />} action={newButton}>
            A campaign sends a template to the people in one or more segments, leaving out other segments,
            suppressed addresses and (with smart sending) people who got an email recently.
          </EmptyState>
        }
      >
        {(items) => <CampaignsTable campaigns={items} />}
      </QueryList>
    </>
  );
}

/** When it goes (scheduled), went out (sending) or was done (sent, cancelled). */
function CampaignTime({ campaign }: { campaign: Campaign }) {
  const [label, value] =
    campaign.status === "scheduled"
      ? [campaign.local_send_at ? "Local time" : "Scheduled", campaign.scheduled_at]
      : campaign.status === "sent" || campaign.status === "cancelled"
        ? [campaign.status === "sent" ? "Sent" : "Cancelled", campaign.finished_at ?? campaign.updated_at]
        : campaign.status === "draft"
          ? ["Edited", campaign.updated_at]
          : ["Started", campaign.started_at];
  return (
    <Text size="sm">
      <Text span c="dimmed" size="sm">
        {label}{" "}
      </Text>
      <DateTime value={value} relative />
    </Text>
  );
}

function CampaignsTable({ campaigns }: { campaigns: Campaign[] }) {
  // Rates and revenue over the last year, from analytics (the same measures as each campaign's page).
  const figures = useQuery(sourcesQuery(lastDays(365), { source: "campaign", limit: 500 }));
  const byId = new Map<string, SourceRow>();
  for (const row of figures.data?.data ?? []) if (row.source_id) byId.set(row.source_id, row);
  const currency = figures.data?.currency ?? "USD";
  return (
    <DataTable
      label="Campaigns"
      minWidth={1000}
      columns={[
        "Name",
        "Status",
        { label: "Recipients", ta: "right" },
        { label: "Sent", ta: "right" },
        { label: "Open rate", ta: "right" },
        { label: "Click rate", ta: "right" },
        { label: "Revenue", ta: "right" },
        "When",
      ]}
    >
      {campaigns.map((campaign) => {
        const recipients = Object.values(campaign.counts).reduce((sum, n) => sum + n, 0);
        const measured = byId.get(campaign.id);
        return (
          <Table.Tr key={campaign.id}>
            <Table.Td>
              <Anchor component={Link} to={`/campaigns/${campaign.id}`} fw={500} style={{ overflowWrap: "anywhere" }}>
                {campaign.name}
              </Anchor>
              {campaign.ab_test && (
                <Text size="xs" c="dimmed">
                  A/B test of {campaign.ab_test.variants.length} variants
                </Text>
              )}
            </Table.Td>
            <Table.Td>
              <CampaignStatusBadge status={campaign.status} />
            </Table.Td>
            <Table.Td ta="right">
              <Text size="sm">{recipients ? formatCount(recipients) : "—"}</Text>
            </Table.Td>
            <Table.Td ta="right">
              <Text size="sm">{recipients ? formatCount(sentCount(campaign.counts)) : "—"}</Text>
            </Table.Td>
            <Table.Td ta="right">
              <Text size="sm">{measured ? formatRate(measured.open_rate) : "—"}</Text>
            </Table.Td>
            <Table.Td ta="right">
              <Text size="sm">{measured ? formatRate(measured.click_rate) : "—"}</Text>
            </Table.Td>
            <Table.Td ta="right">
              <Text size="sm" data-column="revenue">
                {measured ? formatMoney(measured.revenue, currency) : "—"}
              </Text>
            </Table.Td>
            <Table.Td>
              <CampaignTime campaign={campaign} />
            </Table.Td>
          </Table.Tr>
        );
      })}
    </DataTable>
  );
}
