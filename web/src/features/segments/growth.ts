/** The growth chart's geometry, without React: scales, the line, ticks and a summary. */

export interface GrowthPoint {
  date: string;
  members: number;
  entered: number;
  exited: number;
}

export interface ChartBox {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The smallest "nice" number (1, 2, 2.5 or 5 times a power of ten) at or above `value`,
 * at least 1, so that the y axis ends on a round number. */
export function niceCeiling(value: number): number {
  if (!(value > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/** Evenly spaced whole-number ticks from 0 to `max` (a `niceCeiling`): at most six of them. */
export function ticks(max: number): number[] {
  const count = max <= 5 ? Math.max(1, Math.round(max)) : ([4, 5, 2].find((n) => Number.isInteger(max / n)) ?? 1);
  return Array.from({ length: count + 1 }, (_, i) => (max * i) / count);
}

export interface ChartGeometry {
  /** Each point's position, in the order given. */
  points: { x: number; y: number; point: GrowthPoint }[];
  /** The SVG path of the members line ("" without points). */
  line: string;
  /** The same line closed along the x axis, for a fill. */
  area: string;
  yMax: number;
  yTicks: { value: number; y: number }[];
  /** Width of one day's slot, for hover targets. */
  slot: number;
}

export function chartGeometry(data: readonly GrowthPoint[], box: ChartBox): ChartGeometry {
  const innerWidth = box.width - box.left - box.right;
  const innerHeight = box.height - box.top - box.bottom;
  const yMax = niceCeiling(Math.max(0, ...data.map((p) => p.members)));
  const baseline = box.top + innerHeight;
  const y = (value: number) => baseline - (value / yMax) * innerHeight;
  const step = data.length > 1 ? innerWidth / (data.length - 1) : 0;
  const x = (index: number) => (data.length > 1 ? box.left + index * step : box.left + innerWidth / 2);
  const points = data.map((point, index) => ({ x: round(x(index)), y: round(y(point.members)), point }));
  const line = points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x},${p.y}`).join(" ");
  const first = points[0];
  const last = points[points.length - 1];
  const area = first && last ? `${line} L${last.x},${round(baseline)} L${first.x},${round(baseline)} Z` : "";
  return {
    points,
    line,
    area,
    yMax,
    yTicks: ticks(yMax).map((value) => ({ value, y: round(y(value)) })),
    slot: data.length > 1 ? step : innerWidth,
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

export interface GrowthSummary {
  first: number;
  last: number;
  entered: number;
  exited: number;
}

export function summarize(data: readonly GrowthPoint[]): GrowthSummary {
  return {
    first: data[0]?.members ?? 0,
    last: data[data.length - 1]?.members ?? 0,
    entered: data.reduce((total, p) => total + p.entered, 0),
    exited: data.reduce((total, p) => total + p.exited, 0),
  };
}

/** "Nov 24" for a day like 2026-11-24 (a date without time: never shifted by the time zone). */
export function shortDay(day: string): string {
  const [year, month, date] = day.split("-").map(Number);
  if (!year || !month || !date) return day;
  return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, month - 1, date)),
  );
}
