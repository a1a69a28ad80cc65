/** The retention form's values and the PATCH body made of them. */
import type { Schemas } from "../../api/client";

export type Retention = Schemas["RetentionSettings"];
export type RetentionUpdate = Schemas["RetentionSettingsUpdate"];

export const RETENTION_FIELDS = ["events_months", "message_bodies_days"] as const;

/** An empty input keeps that data for ever. */
export type RetentionValues = Record<(typeof RETENTION_FIELDS)[number], number | "">;

export function retentionValues(settings: Retention): RetentionValues {
  return {
    events_months: settings.events_months ?? "",
    message_bodies_days: settings.message_bodies_days ?? "",
  };
}

/** Both fields, null for "keep for ever". */
export function retentionBody(values: RetentionValues): RetentionUpdate {
  return {
    events_months: values.events_months === "" ? null : values.events_months,
    message_bodies_days: values.message_bodies_days === "" ? null : values.message_bodies_days,
  };
}

/** A sentence saying what the settings keep, for the screen. */
export function retentionSummary(values: RetentionValues): string {
  const events = values.events_months === "" ? "Events are kept for ever" : `Events older than ${values.events_months} months are deleted`;
  const bodies =
    values.message_bodies_days === ""
      ? "message bodies are kept for ever"
      : `message bodies older than ${values.message_bodies_days} days are deleted`;
  return `${events}; ${bodies}.`;
}
