/** How flow and enrolment statuses look, and when a screen follows them live. */
import type { EnrolmentStatus, FlowStatus } from "./types";

export const FLOW_STATUS_LABELS: Record<FlowStatus, string> = {
  draft: "Draft",
  live: "Live",
  paused: "Paused",
  archived: "Archived",
};

export const FLOW_STATUS_COLORS: Record<FlowStatus, string> = {
  draft: "gray",
  live: "green",
  paused: "yellow",
  archived: "dark",
};

export const ENROLMENT_STATUS_LABELS: Record<EnrolmentStatus, string> = {
  active: "Active",
  waiting: "Waiting",
  completed: "Completed",
  exited: "Exited",
  failed: "Failed",
};

export const ENROLMENT_STATUS_COLORS: Record<EnrolmentStatus, string> = {
  active: "blue",
  waiting: "cyan",
  completed: "green",
  exited: "gray",
  failed: "red",
};

/** A live or paused flow's counts change as people move through it: they are fetched again. */
export const LIVE_REFRESH_MS = 5_000;

export function isRunning(status: FlowStatus): boolean {
  return status === "live" || status === "paused";
}
