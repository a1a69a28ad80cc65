/** The A/B test on the campaign page: its set-up, each variant's figures side by side, and the
 * decision (the winner and why) once the test is over. */
import { Alert, Badge, Group, Stack, Table, Text } from "@mantine/core";
import { IconTrophy } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import type { Campaign, CampaignFigures } from "../../api/client";
import { campaignStatsQuery, templatesQuery } from "../../api/queries";
import { DataTable } from "../../components/DataTable";
import { DateTime } from "../../components/DateTime";
import { formatCount } from "../../lib/format";
import { Section } from "../../components/Section";
import { abTestSummary, formatMetricValue, formatMoney, formatPValue, formatRate, isLive, LIVE_REFRESH_MS, METRIC_LABELS, metricValue } from "./status";

export function ABTestSection({ campaign }: { campaign: Campaign }) {
  const test = campaign.ab_test;
  const stats = useQuery({
    ...campaignStatsQuery(campaign.id),
    enabled: campaign.status !== "draft",
    refetchInterval: isLive(campaign.status) ? LIVE_REFRESH_MS : false,
  });
  const templates = useQuery(templatesQuery);
  if (!test) return null;
  const result = campaign.ab_result;
  const templateName = new Map((templates.data?.data ?? []).map((t) => [t.id, t.name]));
  const figuresOf = new Map((stats.data?.variants ?? []).map((v) => [v.variant, v as CampaignFigures]));
  return (
    <Section title="A/B test">
      <Stack gap="sm">
        <Text size="sm">{abTestSummary(test)}</Text>
        {result ? (
          <Alert
            color={result.significant ? "teal" : "yellow"}
            variant="light"
            icon={<IconTrophy aria-hidden />}
            title={result.significant ? `Variant ${result.winner} won` : `Variant ${result.winner} was sent without a clear winner`}
            data-testid="ab-result"
          >
            <Text size="sm">{result.reason}</Text>
            <Text size="xs" c="dimmed">
              Decided <DateTime value={result.decided_at} />
            </Text>
          </Alert>
        ) : campaign.ab_decide_at ? (
          <Text size="sm" c="dimmed" data-testid="ab-pending">
            The winner will be picked <DateTime value={campaign.ab_decide_at} relative /> (
            <DateTime value={campaign.ab_decide_at} />
            ).
          </Text>
        ) : null}
        <DataTable
          label="Variants"
          minWidth={820}
          verticalSpacing="xs"
          columns={[
            "Variant",
            "What it changes",
            { label: "Recipients", ta: "right" },
            { label: "Sent", ta: "right" },
            { label: "Open rate", ta: "right" },
            { label: "Click rate", ta: "right" },
            { label: "Conversion rate", ta: "right" },
            { label: "Revenue", ta: "right" },
            { label: `${METRIC_LABELS[test.metric]} (decision)`, ta: "right" },
            { label: "p-value", ta: "right" },
          ]}
        >
          {test.variants.map((variant, index) => {
            const key = variant.key ?? String.fromCharCode(65 + index);
            const figures = figuresOf.get(key);
            const decided = result?.values[key];
            const live = figures ? metricValue(test.metric, figures) : null;
            const changes = [
              variant.subject && `Subject: ${variant.subject}`,
              variant.template_id && `Template: ${templateName.get(variant.template_id) ?? "another template"}`,
              variant.from_name && `From: ${variant.from_name}`,
              variant.send_delay_minutes != null && `Sent ${variant.send_delay_minutes} minutes after the start`,
            ].filter(Boolean);
            const p = result?.p_values[key];
            return (
              <Table.Tr key={key} data-testid={`variant-${key}`} bg={result?.winner === key ? "var(--mantine-color-teal-light)" : undefined}>
                <Table.Td>
                  <Group gap={6} wrap="nowrap">
                    <Badge variant="filled" color="violet" radius="sm">
                      {key}
                    </Badge>
                    {result?.winner === key && (
                      <Badge color="teal" variant="light" leftSection={<IconTrophy size={12} aria-hidden />}>
                        Winner
                      </Badge>
                    )}
                    {result && result.leader === key && result.winner !== key && (
                      <Badge color="gray" variant="light">
                        Leader
                      </Badge>
                    )}
                  </Group>
                </Table.Td>
                <Table.Td>
                  <Text size="sm" style={{ overflowWrap: "anywhere" }}>
                    {changes.length ? changes.join("; ") : "Nothing: the campaign as it is"}
                  </Text>
                </Table.Td>
                <Table.Td ta="right">{figures ? formatCount(figures.recipients) : "—"}</Table.Td>
                <Table.Td ta="right">{figures ? formatCount(figures.sent) : "—"}</Table.Td>
                <Table.Td ta="right">{figures ? formatRate(figures.opens_unique, figures.sent) : "—"}</Table.Td>
                <Table.Td ta="right">{figures ? formatRate(figures.clicks_unique, figures.sent) : "—"}</Table.Td>
                <Table.Td ta="right">{figures ? formatRate(figures.converters, figures.sent) : "—"}</Table.Td>
                <Table.Td ta="right">{figures ? formatMoney(figures.revenue) : "—"}</Table.Td>
                <Table.Td ta="right" fw={600}>
                  {decided !== undefined
                    ? formatMetricValue(test.metric, decided)
                    : live !== null
                      ? formatMetricValue(test.metric, live)
                      : "—"}
                </Table.Td>
                <Table.Td ta="right">{p !== undefined ? formatPValue(p) : "—"}</Table.Td>
              </Table.Tr>
            );
          })}
        </DataTable>
        <Text size="xs" c="dimmed">
          {result
            ? "The decision column shows each variant's value when the test ended; p-values (Holm-adjusted) compare the leader with each other variant."
            : "The figures grow as the test pool's messages are opened and clicked; the decision is made once, when the test ends."}
        </Text>
      </Stack>
    </Section>
  );
}
