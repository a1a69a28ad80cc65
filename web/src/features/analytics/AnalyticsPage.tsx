/** Analytics: a measure over time against the previous period, campaigns and flows with their
 * rates and revenue, deliverability by domain and provider, events and segment trends. */
import { Badge, Group, Paper, Select, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { segmentsQuery } from "../../api/queries";
import { DownloadButton } from "../../components/DownloadButton";
import { PageHeader } from "../../components/PageHeader";
import { QueryResult } from "../../components/QueryResult";
import {
  csvHref,
  deliverabilityQuery,
  eventsQuery,
  segmentReportQuery,
  seriesQuery,
  type DateRange,
  type Interval,
  type Measure,
} from "./api";
import { ChartCard } from "./ChartCard";
import { DateRangePicker } from "./DateRangePicker";
import { formatMeasure, formatMoney, formatRate, lastDays, MEASURE_LABELS } from "./format";
import { SourcesTable } from "./SourcesTable";

function bucketLabel(start: string, interval: Interval): string {
  const date = new Date(start);
  if (interval === "hour") return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
  if (interval === "month") return date.toLocaleDateString(undefined, { year: "numeric", month: "short" });
  return date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

export function MeasureChart({ range, initial = "revenue" }: { range: DateRange; initial?: Measure }) {
  const [measure, setMeasure] = useState<Measure>(initial);
  const [interval, setInterval] = useState<Interval>("day");
  const series = useQuery(seriesQuery(range, measure, interval));
  const controls = (
    <>
      <Select
        size="xs"
        aria-label="Measure"
        value={measure}
        onChange={(value) => value && setMeasure(value as Measure)}
        data={Object.entries(MEASURE_LABELS).map(([value, label]) => ({ value, label }))}
        allowDeselect={false}
        w={190}
      />
      <Select
        size="xs"
        aria-label="Interval"
        value={interval}
        onChange={(value) => value && setInterval(value as Interval)}
        data={[
          { value: "hour", label: "By hour" },
          { value: "day", label: "By day" },
          { value: "week", label: "By week" },
          { value: "month", label: "By month" },
        ]}
        allowDeselect={false}
        w={120}
      />
    </>
  );
  return (
    <QueryResult query={series} loading="Loading the chart…">
      {(data) => (
        <ChartCard
          title={MEASURE_LABELS[measure] ?? measure}
          description={
            <>
              {formatMeasure(measure, data.total, data.currency)} in this period, against{" "}
              {formatMeasure(measure, data.previous_total, data.currency)} in the one before.
            </>
          }
          data={data.points.map((point, index) => ({
            day: bucketLabel(point.start, interval),
            current: point.value,
            previous: data.previous[index]?.value ?? 0,
          }))}
          dataKey="day"
          series={[
            { name: "current", label: "This period", color: "indigo.6" },
            { name: "previous", label: "Previous period", color: "gray.5" },
          ]}
          format={(value) => formatMeasure(measure, value, data.currency)}
          exportHref={csvHref("timeseries", { ...range, measure, interval })}
          controls={controls}
        />
      )}
    </QueryResult>
  );
}

function DeliverabilitySection({ range }: { range: DateRange }) {
  const [by, setBy] = useState<"domain" | "provider">("domain");
  const report = useQuery(deliverabilityQuery(range, by));
  return (
    <QueryResult query={report} loading="Loading deliverability…">
      {(data) => (
        <Stack gap="md">
          <ChartCard
            title="Bounce and complaint rates"
            description="Against the mailbox providers' thresholds: complaints under 0.1% (never 0.3%), bounces under 2%."
            data={data.series.map((point) => ({
              day: bucketLabel(point.start, "day"),
              bounce_rate: point.bounce_rate,
              complaint_rate: point.complaint_rate,
              unsubscribe_rate: point.unsubscribe_rate,
            }))}
            dataKey="day"
            series={[
              { name: "bounce_rate", label: "Bounce rate", color: "orange.6" },
              { name: "complaint_rate", label: "Complaint rate", color: "red.6" },
              { name: "unsubscribe_rate", label: "Unsubscribe rate", color: "gray.6" },
            ]}
            format={formatRate}
          />
          <Paper withBorder p="md" component="section" aria-label="Deliverability">
            <Stack gap="sm">
              <Group justify="space-between">
                <Title order={2} fz="h4">
                  Deliverability by {by === "domain" ? "recipient domain" : "provider"}
                </Title>
                <Group gap="xs">
                  <Select
                    size="xs"
                    aria-label="Group by"
                    value={by}
                    onChange={(value) => value && setBy(value as "domain" | "provider")}
                    data={[
                      { value: "domain", label: "By recipient domain" },
                      { value: "provider", label: "By provider" },
                    ]}
                    allowDeselect={false}
                  />
                  <DownloadButton href={csvHref("deliverability", { ...range, by })}>Export CSV</DownloadButton>
                </Group>
              </Group>
              <Table.ScrollContainer minWidth={700}>
                <Table aria-label={`Deliverability by ${by}`}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{by === "domain" ? "Domain" : "Provider"}</Table.Th>
                      <Table.Th ta="right">Sent</Table.Th>
                      <Table.Th ta="right">Hard bounces</Table.Th>
                      <Table.Th ta="right">Soft bounces</Table.Th>
                      <Table.Th ta="right">Complaint rate</Table.Th>
                      <Table.Th ta="right">Unsubscribe rate</Table.Th>
                      <Table.Th>Health</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {data.data.map((row) => (
                      <Table.Tr key={(by === "domain" ? row.domain : row.provider) ?? ""}>
                        <Table.Td>{(by === "domain" ? row.domain : row.provider) || "—"}</Table.Td>
                        <Table.Td ta="right">{row.sent.toLocaleString()}</Table.Td>
                        <Table.Td ta="right">{formatRate(row.hard_bounce_rate)}</Table.Td>
                        <Table.Td ta="right">{formatRate(row.soft_bounce_rate)}</Table.Td>
                        <Table.Td ta="right">{formatRate(row.complaint_rate)}</Table.Td>
                        <Table.Td ta="right">{formatRate(row.unsubscribe_rate)}</Table.Td>
                        <Table.Td>
                          {row.warnings.length === 0 ? (
                            <Badge color="green" variant="light">
                              Healthy
                            </Badge>
                          ) : (
                            row.warnings.map((warning) => (
                              <Badge key={warning.measure} color={warning.level === "limit" ? "red" : "yellow"} variant="light" mr={4}>
                                {warning.measure.replace("_", " ")} {formatRate(warning.value)}
                              </Badge>
                            ))
                          )}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Stack>
          </Paper>
        </Stack>
      )}
    </QueryResult>
  );
}

function EventsSection({ range }: { range: DateRange }) {
  const report = useQuery(eventsQuery(range, "day"));
  return (
    <QueryResult query={report} loading="Loading events…">
      {(data) => {
        const names = data.data.map((series) => series.name).slice(0, 6);
        const colors = ["indigo.6", "teal.6", "orange.6", "grape.6", "cyan.6", "lime.6"];
        const rows = (data.data[0]?.points ?? []).map((point, index) => {
          const row: Record<string, string | number> = { day: bucketLabel(point.start, "day") };
          for (const series of data.data.slice(0, 6)) row[series.name] = series.points[index]?.events ?? 0;
          return row;
        });
        const conversion = data.data.find((series) => series.name === data.conversion_metric);
        return (
          <SimpleGrid cols={{ base: 1, lg: 2 }}>
            <ChartCard
              title="Events by metric"
              data={rows}
              dataKey="day"
              kind="bar"
              series={names.map((name, index) => ({ name, label: name, color: colors[index] ?? "gray.6" }))}
              format={(value) => value.toLocaleString()}
              exportHref={csvHref("events", { ...range, interval: "day" })}
            />
            <ChartCard
              title={`Revenue per day (${data.conversion_metric})`}
              description="Every conversion's value, attributed or not."
              data={(conversion?.points ?? []).map((point) => ({ day: bucketLabel(point.start, "day"), value: point.value }))}
              dataKey="day"
              series={[{ name: "value", label: "Revenue", color: "teal.6" }]}
              format={(value) => formatMoney(value, data.currency)}
              exportHref={csvHref("events", { ...range, interval: "day", name: data.conversion_metric })}
            />
          </SimpleGrid>
        );
      }}
    </QueryResult>
  );
}

function SegmentTrends({ range }: { range: DateRange }) {
  const segments = useQuery(segmentsQuery);
  const [chosen, setChosen] = useState<string | null>(null);
  const segmentId = chosen ?? segments.data?.data[0]?.id ?? null;
  const report = useQuery({ ...segmentReportQuery(segmentId ?? "", range), enabled: segmentId !== null });
  if (!segments.data || segments.data.data.length === 0) return null;
  return (
    <Stack gap="sm">
      <Select
        size="xs"
        label="Segment"
        value={segmentId}
        onChange={setChosen}
        data={segments.data.data.map((segment) => ({ value: segment.id, label: segment.name }))}
        allowDeselect={false}
        maw={320}
      />
      {segmentId && (
        <QueryResult query={report} loading="Loading the segment…">
          {(data) => (
            <ChartCard
              title={`${data.name}: members over time`}
              description={
                <>
                  {data.members.toLocaleString()} members; per member in this period:{" "}
                  {data.opens_per_member.toFixed(2)} opens, {data.clicks_per_member.toFixed(2)} clicks,{" "}
                  {formatMoney(data.revenue_per_member, data.currency)} revenue.
                </>
              }
              data={data.sizes.map((point) => ({ day: point.date, members: point.members }))}
              dataKey="day"
              series={[{ name: "members", label: "Members", color: "indigo.6" }]}
              format={(value) => value.toLocaleString()}
              exportHref={csvHref(`segments/${data.segment_id}`, range)}
            />
          )}
        </QueryResult>
      )}
    </Stack>
  );
}

export function AnalyticsPage() {
  const [range, setRange] = useState<DateRange>(() => lastDays(30));
  return (
    <>
      <PageHeader
        title="Analytics"
        description="What your campaigns, flows and SMS earned and how people engaged, measured once and credited by last touch."
        actions={<DateRangePicker value={range} onChange={setRange} />}
      />
      <Stack gap="lg">
        <MeasureChart range={range} />
        <SourcesTable title="Campaigns" source="campaign" range={range} />
        <SourcesTable title="Flows" source="flow" range={range} />
        <Title order={2} fz="h3">
          Deliverability
        </Title>
        <DeliverabilitySection range={range} />
        <Title order={2} fz="h3">
          Events
        </Title>
        <EventsSection range={range} />
        <Title order={2} fz="h3">
          Segment trends
        </Title>
        <SegmentTrends range={range} />
        <Text size="xs" c="dimmed">
          Figures come from hourly rollups kept up to date as messages and events arrive; a change is
          usually reflected within seconds.
        </Text>
      </Stack>
    </>
  );
}
