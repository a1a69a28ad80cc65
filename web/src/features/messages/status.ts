/** How message statuses and events are named and colored on screen. */
import type { MessageStatus } from "../../api/client";

export const STATUS_LABELS: Readonly<Record<MessageStatus, string>> = {
  queued: "Queued",
  sending: "Sending",
  sent: "Sent",
  delivered: "Delivered",
  bounced: "Bounced",
  complained: "Complained",
  failed: "Failed",
  suppressed: "Suppressed",
  skipped: "Skipped",
};

export const STATUS_COLORS: Readonly<Record<MessageStatus, string>> = {
  queued: "gray",
  sending: "blue",
  sent: "teal",
  delivered: "green",
  bounced: "orange",
  complained: "red",
  failed: "red",
  suppressed: "yellow",
  skipped: "gray",
};

export const STATUSES = Object.keys(STATUS_LABELS) as MessageStatus[];

/** Still on its way: worth following until it settles. */
export function isInFlight(status: MessageStatus): boolean {
  return status === "queued" || status === "sending";
}

export function isMessageStatus(value: unknown): value is MessageStatus {
  return typeof value === "string" && value in STATUS_LABELS;
}

const EVENT_LABELS: Readonly<Record<string, string>> = {
  opened: "Opened",
  clicked: "Clicked",
  unsubscribed: "Unsubscribed",
  resubscribed: "Resubscribed",
};

/** A message event's kind as a label: its status name, or what the recipient did. */
export function eventLabel(kind: string): string {
  if (isMessageStatus(kind)) return STATUS_LABELS[kind];
  return EVENT_LABELS[kind] ?? kind.charAt(0).toUpperCase() + kind.slice(1).replace(/_/g, " ");
}

export function eventColor(kind: string): string {
  if (isMessageStatus(kind)) return STATUS_COLORS[kind];
  if (kind === "opened" || kind === "clicked") return "grape";
  if (kind === "unsubscribed") return "orange";
  return "gray";
}

const SOURCE_LABELS: Readonly<Record<string, string>> = {
  transactional: "Transactional API",
  campaign: "Campaign",
  campaign_test: "Campaign test send",
  flow: "Flow",
};

/** What sent a message, in words. */
export function sourceLabel(source: string): string {
  return SOURCE_LABELS[source] ?? source.replace(/_/g, " ");
}

/** The dashboard page of the campaign or flow that sent a message, if any. */
export function sourcePath(source: string, sourceId: string | null): string | null {
  if (sourceId === null) return null;
  if (source === "campaign" || source === "campaign_test") return `/campaigns/${sourceId}`;
  if (source === "flow") return `/flows/${sourceId}`;
  return null;
}
