/** A chart with its accessible table view and its CSV export: every chart on the analytics
 * screens is one of these. The table holds the same numbers the chart draws. */
import { AreaChart, BarChart } from "@mantine/charts";
import { Group, Paper, SegmentedControl, Stack, Table, Text, Title } from "@mantine/core";
import { useState, type ReactNode } from "react";
import { DownloadButton } from "../../components/DownloadButton";

export interface ChartSeries {
  name: string;
  label: string;
  color: string;
}

export function ChartCard({
  title,
  description,
  data,
  dataKey,
  series,
  format,
  exportHref,
  kind = "area",
  controls,
}: {
  title: string;
  description?: ReactNode;
  /** One row per point: `dataKey` names the x value, each series a y value. */
  data: Record<string, string | number>[];
  dataKey: string;
  series: ChartSeries[];
  format: (value: number) => string;
  exportHref?: string;
  kind?: "area" | "bar";
  controls?: ReactNode;
}) {
  const [view, setView] = useState<"chart" | "table">("chart");
  const Chart = kind === "bar" ? BarChart : AreaChart;
  return (
    <Paper withBorder p="md" component="section" aria-label={title}>
      <Stack gap="sm">
        <Group justify="space-between" align="flex-start" wrap="wrap">
          <div>
            <Title order={2} fz="h4">
              {title}
            </Title>
            {description && (
              <Text size="sm" c="dimmed">
                {description}
              </Text>
            )}
          </div>
          <Group gap="xs">
            {controls}
            <SegmentedControl
              size="xs"
              value={view}
              onChange={(value) => setView(value as "chart" | "table")}
              data={[
                { value: "chart", label: "Chart" },
                { value: "table", label: "Table" },
              ]}
              aria-label={`${title}: show as`}
            />
            {exportHref && (
              <DownloadButton href={exportHref}>
                Export CSV
              </DownloadButton>
            )}
          </Group>
        </Group>
        {view === "chart" ? (
          <Chart
            h={240}
            data={data}
            dataKey={dataKey}
            series={series.map(({ name, label, color }) => ({ name, label, color }))}
            valueFormatter={format}
            withLegend={series.length > 1}
            curveType="monotone"
            aria-hidden
          />
        ) : (
          <Table.ScrollContainer minWidth={400}>
            <Table aria-label={`${title} (table)`} striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{dataKey === "day" ? "Period" : dataKey}</Table.Th>
                  {series.map((s) => (
                    <Table.Th key={s.name} ta="right">
                      {s.label}
                    </Table.Th>
                  ))}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {data.map((row, index) => (
                  <Table.Tr key={index}>
                    <Table.Td>{row[dataKey]}</Table.Td>
                    {series.map((s) => (
                      <Table.Td key={s.name} ta="right">
                        {typeof row[s.name] === "number" ? format(row[s.name] as number) : "—"}
                      </Table.Td>
                    ))}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Stack>
    </Paper>
  );
}
