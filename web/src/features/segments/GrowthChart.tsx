/** Members at the end of each day, as a small SVG line chart (no chart library). */
import { Box, Group, Text } from "@mantine/core";
import { formatCount } from "../../lib/format";
import { chartGeometry, shortDay, summarize, type ChartBox, type GrowthPoint } from "./growth";

const BOX: ChartBox = { width: 720, height: 220, left: 48, right: 16, top: 12, bottom: 28 };

export function GrowthChart({ data, days }: { data: readonly GrowthPoint[]; days: number }) {
  const geometry = chartGeometry(data, BOX);
  const summary = summarize(data);
  const baseline = BOX.height - BOX.bottom;
  const labelled = new Set([0, Math.floor((data.length - 1) / 2), data.length - 1]);
  const description =
    data.length === 0
      ? "No history yet."
      : `Members over the last ${days} days: ${formatCount(summary.first)} on ${shortDay(data[0]!.date)}, ` +
        `${formatCount(summary.last)} on ${shortDay(data[data.length - 1]!.date)}; ` +
        `${formatCount(summary.entered)} entered and ${formatCount(summary.exited)} left.`;
  return (
    <Box>
      <Group gap="lg" mb="xs">
        <Text size="sm">
          <Text span fw={600}>
            {formatCount(summary.last)}
          </Text>{" "}
          members now
        </Text>
        <Text size="sm" c="teal.8">
          +{formatCount(summary.entered)} entered
        </Text>
        <Text size="sm" c="red.8">
          −{formatCount(summary.exited)} left
        </Text>
        <Text size="sm" c="dimmed">
          in the last {days} days (UTC)
        </Text>
      </Group>
      <svg
        viewBox={`0 0 ${BOX.width} ${BOX.height}`}
        width="100%"
        role="img"
        aria-label={description}
        data-testid="growth-chart"
        style={{ display: "block", maxHeight: 260 }}
      >
        {geometry.yTicks.map((tick) => (
          <g key={tick.value}>
            <line
              x1={BOX.left}
              x2={BOX.width - BOX.right}
              y1={tick.y}
              y2={tick.y}
              stroke="var(--mantine-color-gray-3)"
              strokeDasharray={tick.value === 0 ? undefined : "3 3"}
            />
            <text x={BOX.left - 8} y={tick.y + 4} textAnchor="end" fontSize={11} fill="var(--mantine-color-dimmed)">
              {formatCount(tick.value)}
            </text>
          </g>
        ))}
        {geometry.area && <path d={geometry.area} fill="var(--mantine-primary-color-light)" stroke="none" />}
        {geometry.line && (
          <path
            d={geometry.line}
            fill="none"
            stroke="var(--mantine-primary-color-filled)"
            strokeWidth={2}
            strokeLinejoin="round"
            data-testid="growth-line"
          />
        )}
        {geometry.points.map(({ x, y, point }, index) => (
          <g key={point.date}>
            {labelled.has(index) && (
              <text
                x={x}
                y={baseline + 18}
                fontSize={11}
                fill="var(--mantine-color-dimmed)"
                textAnchor={index === 0 ? "start" : index === data.length - 1 ? "end" : "middle"}
              >
                {shortDay(point.date)}
              </text>
            )}
            {(point.entered > 0 || point.exited > 0) && (
              <circle cx={x} cy={y} r={3} fill="var(--mantine-primary-color-filled)" />
            )}
            <rect x={x - geometry.slot / 2} y={BOX.top} width={geometry.slot} height={baseline - BOX.top} fill="transparent">
              <title>
                {`${shortDay(point.date)}: ${formatCount(point.members)} members, +${point.entered} entered, −${point.exited} left`}
              </title>
            </rect>
          </g>
        ))}
      </svg>
    </Box>
  );
}
