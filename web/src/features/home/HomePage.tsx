/** The home overview: attributed revenue against the previous period, messages and rates, the
 * best campaigns and flows, deliverability health and recent activity. A new organization sees
 * its first steps instead. */
import { Alert, Anchor, Badge, Group, List, Paper, SimpleGrid, Stack, Table, Text, ThemeIcon, Title } from "@mantine/core";
import { IconAlertTriangle, IconCheck, IconCircleDashed } from "@tabler/icons-react";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { PageHeader } from "../../components/PageHeader";
import { QueryResult } from "../../components/QueryResult";
import { overviewQuery, type DateRange, type Overview, type SourceRow } from "../analytics/api";
import { MeasureChart } from "../analytics/AnalyticsPage";
import { DateRangePicker } from "../analytics/DateRangePicker";
import { formatChange, formatMoney, formatRate, lastDays } from "../analytics/format";

function Stat({ label, value, detail }: { label: string; value: string; detail?: string }) {
  return (
    <Paper withBorder p="md">
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>
        {label}
      </Text>
      <Text fz="h2" fw={700} data-stat={label}>
        {value}
      </Text>
      {detail && (
        <Text size="sm" c="dimmed">
          {detail}
        </Text>
      )}
    </Paper>
  );
}

function Best({ title, rows, currency, path }: { title: string; rows: SourceRow[]; currency: string; path: string }) {
  return (
    <Paper withBorder p="md" component="section" aria-label={title}>
      <Title order={2} fz="h4" mb="sm">
        {title}
      </Title>
      {rows.length === 0 ? (
        <Text size="sm" c="dimmed">
          Nothing sent in this period.
        </Text>
      ) : (
        <Table aria-label={title}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th ta="right">Open rate</Table.Th>
              <Table.Th ta="right">Click rate</Table.Th>
              <Table.Th ta="right">Revenue</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={`${row.source_id}-${row.channel}`}>
                <Table.Td>
                  <Anchor component={Link} to={`${path}/${row.source_id}`}>
                    {row.name}
                  </Anchor>
                </Table.Td>
                <Table.Td ta="right">{formatRate(row.open_rate)}</Table.Td>
                <Table.Td ta="right">{formatRate(row.click_rate)}</Table.Td>
                <Table.Td ta="right">{formatMoney(row.revenue, currency)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Paper>
  );
}

function Step({ done, children }: { done: boolean; children: React.ReactNode }) {
  return (
    <List.Item
      icon={
        <ThemeIcon color={done ? "green" : "gray"} variant="light" size={22} radius="xl">
          {done ? <IconCheck size={14} aria-hidden /> : <IconCircleDashed size={14} aria-hidden />}
        </ThemeIcon>
      }
    >
      <Text size="sm" td={done ? "line-through" : undefined}>
        {children}
      </Text>
    </List.Item>
  );
}

function GettingStarted({ steps }: { steps: Overview["getting_started"] }) {
  return (
    <Paper withBorder p="lg" component="section" aria-label="Getting started">
      <Title order={2} fz="h3" mb="xs">
        Getting started
      </Title>
      <Text size="sm" c="dimmed" mb="md">
        Your overview fills in as people do things on your site and you send them messages.
      </Text>
      <List spacing="sm">
        <Step done={steps.has_events}>
          <Anchor component={Link} to="/get-started">
            Send your first event
          </Anchor>{" "}
          from your website or server.
        </Step>
        <Step done={steps.has_profiles}>
          <Anchor component={Link} to="/imports">
            Import your people
          </Anchor>{" "}
          or let events create them.
        </Step>
        <Step done={steps.has_campaigns}>
          <Anchor component={Link} to="/campaigns/new">
            Create a campaign
          </Anchor>
          .
        </Step>
        <Step done={steps.has_sent}>Send it, and watch the revenue it brings in here.</Step>
      </List>
    </Paper>
  );
}

function OverviewBody({ data, range }: { data: Overview; range: DateRange }) {
  const steps = data.getting_started;
  if (!steps.has_events && !steps.has_sent) return <GettingStarted steps={steps} />;
  const totals = data.totals;
  const warnings = data.deliverability.warnings;
  return (
    <Stack gap="lg">
      {!steps.has_sent && <GettingStarted steps={steps} />}
      <SimpleGrid cols={{ base: 1, sm: 2, lg: 4 }}>
        <Stat
          label="Attributed revenue"
          value={formatMoney(data.attributed_revenue, data.currency)}
          detail={`${formatChange(data.revenue_change)} against the previous period (${formatMoney(
            data.previous_attributed_revenue,
            data.currency,
          )}); ${formatMoney(data.unattributed_revenue, data.currency)} unattributed`}
        />
        <Stat label="Messages sent" value={totals.sent.toLocaleString()} detail={`${data.previous_totals.sent.toLocaleString()} in the previous period`} />
        <Stat label="Open rate" value={formatRate(totals.open_rate)} detail={`${formatRate(data.previous_totals.open_rate)} before`} />
        <Stat label="Click rate" value={formatRate(totals.click_rate)} detail={`${formatRate(data.previous_totals.click_rate)} before`} />
      </SimpleGrid>
      <MeasureChart range={range} />
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        <Best title="Best campaigns" rows={data.best_campaigns} currency={data.currency} path="/campaigns" />
        <Best title="Best flows" rows={data.best_flows} currency={data.currency} path="/flows" />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        <Paper withBorder p="md" component="section" aria-label="Deliverability">
          <Group justify="space-between" mb="sm">
            <Title order={2} fz="h4">
              Deliverability
            </Title>
            <Anchor component={Link} to="/analytics" size="sm">
              Details
            </Anchor>
          </Group>
          {warnings.length === 0 ? (
            <Group gap="xs">
              <Badge color="green" variant="light">
                Healthy
              </Badge>
              <Text size="sm" c="dimmed">
                Bounces {formatRate(data.deliverability.bounce_rate)}, complaints{" "}
                {formatRate(data.deliverability.complaint_rate)}.
              </Text>
            </Group>
          ) : (
            <Stack gap="xs">
              {warnings.map((warning) => (
                <Alert
                  key={warning.measure}
                  color={warning.level === "limit" ? "red" : "yellow"}
                  icon={<IconAlertTriangle size={18} aria-hidden />}
                  title={`${warning.measure.replace("_", " ")}: ${formatRate(warning.value)}`}
                >
                  {warning.level === "limit" ? "Past" : "Approaching"} the mailbox providers' threshold of{" "}
                  {formatRate(warning.threshold)}.
                </Alert>
              ))}
            </Stack>
          )}
        </Paper>
        <Paper withBorder p="md" component="section" aria-label="Recent activity">
          <Title order={2} fz="h4" mb="sm">
            Recent activity
          </Title>
          {data.recent_activity.length === 0 ? (
            <Text size="sm" c="dimmed">
              No events yet.
            </Text>
          ) : (
            <Table aria-label="Recent activity">
              <Table.Tbody>
                {data.recent_activity.map((activity, index) => (
                  <Table.Tr key={index}>
                    <Table.Td>
                      <Anchor component={Link} to={`/profiles/${activity.profile_id}`} size="sm">
                        {activity.email ?? "Someone"}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{activity.name}</Text>
                    </Table.Td>
                    <Table.Td ta="right">
                      <Text size="sm">{activity.value != null ? formatMoney(activity.value, data.currency) : ""}</Text>
                    </Table.Td>
                    <Table.Td ta="right">
                      <Text size="xs" c="dimmed">
                        {new Date(activity.time).toLocaleString()}
                      </Text>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Paper>
      </SimpleGrid>
    </Stack>
  );
}

export function HomePage() {
  const [range, setRange] = useState<DateRange>(() => lastDays(30));
  const overview = useQuery(overviewQuery(range));
  return (
    <>
      <PageHeader title="Overview" actions={<DateRangePicker value={range} onChange={setRange} />} />
      <QueryResult query={overview} loading="Loading your overview…">
        {(data) => <OverviewBody data={data} range={range} />}
      </QueryResult>
    </>
  );
}
