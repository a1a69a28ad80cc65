/** Money in the organization's currency, rates as percentages, changes with their sign. */

export function formatMoney(value: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    // A code Intl does not know is still shown, after the amount.
    return `${value.toFixed(2)} ${currency}`;
  }
}

export function formatRate(value: number): string {
  return `${(value * 100).toFixed(value !== 0 && Math.abs(value) < 0.01 ? 2 : 1)}%`;
}

/** "+12.5%" / "−3.0%"; "—" when there was nothing to compare with. */
export function formatChange(change: number | null | undefined): string {
  if (change === null || change === undefined) return "—";
  const sign = change > 0 ? "+" : change < 0 ? "−" : "";
  return `${sign}${Math.abs(change * 100).toFixed(1)}%`;
}

const RATES = new Set([
  "open_rate",
  "click_rate",
  "click_to_open_rate",
  "bounce_rate",
  "unsubscribe_rate",
  "complaint_rate",
  "conversion_rate",
]);
const MONEY = new Set(["revenue", "revenue_per_recipient"]);

/** A measure's value as the screens show it. */
export function formatMeasure(measure: string, value: number, currency: string): string {
  if (RATES.has(measure)) return formatRate(value);
  if (MONEY.has(measure)) return formatMoney(value, currency);
  return new Intl.NumberFormat().format(value);
}

export const MEASURE_LABELS: Record<string, string> = {
  revenue: "Attributed revenue",
  sent: "Messages sent",
  recipients: "Recipients",
  delivered: "Delivered",
  opens_unique: "Unique opens",
  clicks_unique: "Unique clicks",
  open_rate: "Open rate",
  click_rate: "Click rate",
  click_to_open_rate: "Click-to-open rate",
  bounce_rate: "Bounce rate",
  unsubscribe_rate: "Unsubscribe rate",
  complaint_rate: "Complaint rate",
  conversions: "Conversions",
  conversion_rate: "Conversion rate",
  revenue_per_recipient: "Revenue per recipient",
};

/** YYYY-MM-DD of a local date. */
export function isoDay(date: Date): string {
  const month = String(date.getMonth() + 1).padStart(2, "0");
  const day = String(date.getDate()).padStart(2, "0");
  return `${date.getFullYear()}-${month}-${day}`;
}

/** The last `days` days up to today. */
export function lastDays(days: number, today: Date = new Date()): { from: string; to: string } {
  const first = new Date(today);
  first.setDate(first.getDate() - (days - 1));
  return { from: isoDay(first), to: isoDay(today) };
}
