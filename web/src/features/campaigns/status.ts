/** How campaigns and their recipients are named, colored and measured on screen (no React). */
import type { ABTest, CampaignFigures, CampaignStatus } from "../../api/client";
import { formatCount } from "../../lib/format";
import { isMessageStatus, STATUS_COLORS, STATUS_LABELS } from "../messages/status";

export const CAMPAIGN_STATUS_LABELS: Readonly<Record<CampaignStatus, string>> = {
  draft: "Draft",
  scheduled: "Scheduled",
  sending: "Sending",
  sent: "Sent",
  paused: "Paused",
  cancelled: "Cancelled",
};

export const CAMPAIGN_STATUS_COLORS: Readonly<Record<CampaignStatus, string>> = {
  draft: "gray",
  scheduled: "blue",
  sending: "yellow",
  sent: "teal",
  paused: "orange",
  cancelled: "red",
};

/** How often a scheduled or sending campaign is read again, in ms. */
export const LIVE_REFRESH_MS = 2000;

/** Scheduled or sending: its status and counts change by themselves, so screens follow it. */
export function isLive(status: CampaignStatus): boolean {
  return status === "scheduled" || status === "sending";
}

/** Recipient statuses that are not a message's: before a message exists, or instead of one. */
const RECIPIENT_ONLY_LABELS: Readonly<Record<string, string>> = {
  waiting: "Waiting for the winner",
  pending: "Pending",
  cancelled: "Cancelled",
};
const RECIPIENT_ONLY_COLORS: Readonly<Record<string, string>> = {
  waiting: "violet",
  pending: "gray",
  cancelled: "red",
};

/** A recipient's status, in the order they are listed (the life of a recipient, then the ends). */
export const RECIPIENT_STATUSES = [
  "waiting",
  "pending",
  "queued",
  "sent",
  "delivered",
  "bounced",
  "complained",
  "failed",
  "suppressed",
  "skipped",
  "cancelled",
] as const;

export function recipientStatusLabel(status: string): string {
  if (status in RECIPIENT_ONLY_LABELS) return RECIPIENT_ONLY_LABELS[status] ?? status;
  if (isMessageStatus(status)) return STATUS_LABELS[status];
  return status.charAt(0).toUpperCase() + status.slice(1).replace(/_/g, " ");
}

export function recipientStatusColor(status: string): string {
  if (status in RECIPIENT_ONLY_COLORS) return RECIPIENT_ONLY_COLORS[status] ?? "gray";
  return isMessageStatus(status) ? STATUS_COLORS[status] : "gray";
}

/** Why a person is left out of a campaign, once for every screen: `label` names the reason on a
 * recipient's row, `phrase` follows a count ("3 without an email address"). The reasons are the
 * snapshot's (a recipient's `skip_reason`) and, for the audience count, `excluded_segment`. */
const SKIP_REASONS: readonly { reason: string; label: string; phrase: string }[] = [
  { reason: "excluded_segment", label: "In an excluded segment", phrase: "in an excluded segment" },
  { reason: "no_email", label: "No email address", phrase: "without an email address" },
  { reason: "no_phone", label: "No phone number", phrase: "without a phone number" },
  {
    reason: "suppressed",
    label: "On the suppression list",
    phrase: "on the suppression list (unsubscribed, bounced or complained)",
  },
  { reason: "no_consent", label: "No marketing consent", phrase: "without marketing consent (withdrawn or never given)" },
  { reason: "smart_sending", label: "Smart sending (messaged recently)", phrase: "messaged recently (smart sending)" },
  { reason: "merged", label: "Merged into another recipient", phrase: "merged into another recipient" },
];

export function skipReasonLabel(reason: string): string {
  return SKIP_REASONS.find((r) => r.reason === reason)?.label ?? reason.replace(/_/g, " ");
}

/** The reasons with a count, in a fixed order (unknown reasons last), zeros left out. */
export function skippedParts(skipped: Readonly<Record<string, number>>): { reason: string; count: number; text: string }[] {
  const known = SKIP_REASONS.map((r) => r.reason);
  const unknown = Object.keys(skipped)
    .filter((reason) => !known.includes(reason))
    .sort();
  return [...known, ...unknown]
    .filter((reason) => (skipped[reason] ?? 0) > 0)
    .map((reason) => {
      const count = skipped[reason] ?? 0;
      const phrase = SKIP_REASONS.find((r) => r.reason === reason)?.phrase ?? reason.replace(/_/g, " ");
      return { reason, count, text: `${formatCount(count)} ${phrase}` };
    });
}

/** "1 without an email address, 2 messaged recently (smart sending)"; "" when nobody is left out. */
export function skippedSummary(skipped: Readonly<Record<string, number>>): string {
  return skippedParts(skipped)
    .map((part) => part.text)
    .join(", ");
}

/** Where the recipients are, for the progress bar: one part a group of statuses. */
export interface ProgressPart {
  key: "sent" | "problem" | "skipped" | "queued" | "pending" | "waiting";
  label: string;
  color: string;
  count: number;
  /** Share of all recipients, 0–100. */
  percent: number;
}

const PROGRESS_GROUPS: readonly { key: ProgressPart["key"]; label: string; color: string; statuses: readonly string[] }[] = [
  { key: "sent", label: "Sent", color: "teal", statuses: ["sent", "delivered"] },
  { key: "problem", label: "Bounced, failed or suppressed", color: "orange", statuses: ["bounced", "complained", "failed", "suppressed"] },
  { key: "skipped", label: "Skipped or cancelled", color: "gray.5", statuses: ["skipped", "cancelled"] },
  { key: "queued", label: "Queued", color: "blue", statuses: ["queued"] },
  { key: "pending", label: "Pending", color: "gray.3", statuses: ["pending"] },
  { key: "waiting", label: "Waiting for the winner", color: "violet.2", statuses: ["waiting"] },
];

/** Statuses that are not final: the recipient still expects something to happen. */
const OPEN_STATUSES: readonly string[] = ["waiting", "pending", "queued"];

export interface Progress {
  total: number;
  /** Recipients whose row is final (sent, skipped, failed...). */
  done: number;
  /** done / total, 0–100 (0 with no recipients). */
  percent: number;
  /** Non-empty parts only, in a fixed order. Unknown statuses count as done, with the problems. */
  parts: ProgressPart[];
}

export function progressOf(counts: Readonly<Record<string, number>>): Progress {
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  const known = new Set(PROGRESS_GROUPS.flatMap((group) => group.statuses));
  const parts = PROGRESS_GROUPS.map((group) => {
    let count = group.statuses.reduce((sum, status) => sum + (counts[status] ?? 0), 0);
    if (group.key === "problem") {
      count += Object.entries(counts).reduce((sum, [status, n]) => (known.has(status) ? sum : sum + n), 0);
    }
    return { key: group.key, label: group.label, color: group.color, count, percent: total ? (count / total) * 100 : 0 };
  }).filter((part) => part.count > 0);
  const open = OPEN_STATUSES.reduce((sum, status) => sum + (counts[status] ?? 0), 0);
  const done = total - open;
  return { total, done, percent: total ? Math.floor((done / total) * 100) : 0, parts };
}

/** The sentence under the progress bar. Its numbers are those of the bar and of the counts beside
 * it (one answer of the API), so it never says "0 so far" while they count recipients. */
export function progressText(status: CampaignStatus, snapshotting: boolean, progress: Progress): string {
  const recipients = (n: number) => `${formatCount(n)} ${n === 1 ? "recipient" : "recipients"}`;
  if (snapshotting) {
    return progress.total === 0
      ? "Taking the audience snapshot…"
      : `Taking the audience snapshot… ${recipients(progress.total)} so far`;
  }
  if (progress.total === 0) {
    return status === "scheduled" ? "The audience is taken when sending starts." : "No recipients.";
  }
  return `${formatCount(progress.done)} of ${recipients(progress.total)} done (${progress.percent}%)`;
}

const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const moneyFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** A share as a percentage with one decimal ("12.5%"); "—" when there is nothing to divide by. */
export function formatRate(part: number, whole: number): string {
  return whole > 0 ? percentFormat.format(part / whole) : "—";
}

/** An amount of money in the shop's own currency (Herald does not know which): "1,234.50". */
export function formatMoney(value: number): string {
  return moneyFormat.format(value);
}

export type ABMetric = ABTest["metric"];

export const METRIC_LABELS: Readonly<Record<ABMetric, string>> = {
  open_rate: "Open rate",
  click_rate: "Click rate",
  conversion_rate: "Conversion rate",
  revenue_per_recipient: "Revenue per recipient",
};

/** A value of a winning metric as the A/B decision gives it (a rate as a fraction, or money). */
export function formatMetricValue(metric: ABMetric, value: number): string {
  return metric === "revenue_per_recipient" ? formatMoney(value) : percentFormat.format(value);
}

/** A p-value to four decimals, small ones as "< 0.0001". */
export function formatPValue(p: number): string {
  return p < 0.0001 ? "< 0.0001" : p.toFixed(4);
}

/** One card of the stats: the figure and what it is out of. */
export interface StatCard {
  label: string;
  value: string;
  detail?: string;
}

/** The campaign's figures as the stats cards show them. Rates are of the messages sent. */
export function statCards(figures: CampaignFigures, conversionMetric: string): StatCard[] {
  const { sent } = figures;
  return [
    { label: "Recipients", value: formatCount(figures.recipients), detail: `${formatCount(figures.skipped)} skipped` },
    { label: "Sent", value: formatCount(sent), detail: `${formatRate(sent, figures.recipients)} of recipients` },
    { label: "Delivered", value: formatCount(figures.delivered), detail: "reported by the provider" },
    { label: "Bounced", value: formatCount(figures.bounced), detail: `${formatRate(figures.bounced, sent)} of sent` },
    {
      label: "Open rate",
      value: formatRate(figures.opens_unique, sent),
      detail: `${formatCount(figures.opens_unique)} opened (unique), ${formatCount(figures.opens_total)} opens`,
    },
    {
      label: "Click rate",
      value: formatRate(figures.clicks_unique, sent),
      detail: `${formatCount(figures.clicks_unique)} clicked (unique), ${formatCount(figures.clicks_total)} clicks`,
    },
    { label: "Unsubscribes", value: formatCount(figures.unsubscribes), detail: `${formatRate(figures.unsubscribes, sent)} of sent` },
    { label: "Spam complaints", value: formatCount(figures.complaints), detail: `${formatRate(figures.complaints, sent)} of sent` },
    {
      label: "Conversions",
      value: formatCount(figures.conversions),
      detail: `“${conversionMetric}” by ${formatCount(figures.converters)} ${figures.converters === 1 ? "person" : "people"} (${formatRate(figures.converters, sent)} of sent)`,
    },
    { label: "Revenue", value: formatMoney(figures.revenue), detail: `${formatMoney(sent ? figures.revenue / sent : 0)} per recipient sent to` },
  ];
}

export type CampaignAction = "edit" | "send" | "schedule" | "unschedule" | "pause" | "resume" | "cancel" | "delete";

const ALLOWED: Readonly<Record<CampaignStatus, readonly CampaignAction[]>> = {
  draft: ["edit", "send", "schedule", "delete"],
  scheduled: ["send", "unschedule", "cancel", "delete"],
  sending: ["pause", "cancel"],
  paused: ["resume", "cancel"],
  sent: ["delete"],
  cancelled: ["delete"],
};

/** What can be done to a campaign in this status (duplicate and test send: always). */
export function canDo(status: CampaignStatus, action: CampaignAction): boolean {
  return ALLOWED[status].includes(action);
}

/** Messages that left Herald (sent, and what happened to them after). */
export function sentCount(counts: Readonly<Record<string, number>>): number {
  return ["sent", "delivered", "bounced", "complained"].reduce((sum, status) => sum + (counts[status] ?? 0), 0);
}

/** A variant's (or the campaign's) value of a winning metric, as a fraction or money per
 * recipient sent to; null before anything was sent. */
export function metricValue(metric: ABMetric, figures: CampaignFigures): number | null {
  if (figures.sent === 0) return null;
  switch (metric) {
    case "open_rate":
      return figures.opens_unique / figures.sent;
    case "click_rate":
      return figures.clicks_unique / figures.sent;
    case "conversion_rate":
      return figures.converters / figures.sent;
    case "revenue_per_recipient":
      return figures.revenue / figures.sent;
  }
}

/** The A/B test's set-up in a sentence or two. */
export function abTestSummary(test: ABTest): string {
  const count = test.variants.length;
  const each = Math.floor((test.pool_percent / count) * 10) / 10;
  const hours = `${test.duration_hours} ${test.duration_hours === 1 ? "hour" : "hours"}`;
  const fallback =
    test.fallback === "default" && test.default_variant
      ? `variant ${test.default_variant} goes`
      : "the leading variant goes";
  return (
    `${test.pool_percent}% of the audience is split over ${count} variants (${each}% each). ` +
    `After ${hours}, the variant with the best ${METRIC_LABELS[test.metric].toLowerCase()} goes to everyone else ` +
    `if it wins at ${Math.round(test.confidence * 1000) / 10}% confidence; otherwise ${fallback}.`
  );
}
