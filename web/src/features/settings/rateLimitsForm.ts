/** The rate-limit form's values and the PATCH body made of them. */
import type { Schemas } from "../../api/client";

export type RateLimits = Schemas["RateLimits"];
export type RateLimitsUpdate = Schemas["RateLimitsUpdate"];

export const KINDS = ["ingestion", "management"] as const;
export const LEVELS = ["organization", "key"] as const;
export const PERIODS = ["per_second", "per_minute"] as const;

export type Kind = (typeof KINDS)[number];
export type Level = (typeof LEVELS)[number];
export type Period = (typeof PERIODS)[number];

/** An empty input means "the default". */
export type LimitInput = number | "";
export type RateLimitValues = Record<Kind, Record<Level, Record<Period, LimitInput>>>;

/** Every limit's field name, as the API names it in errors ("ingestion.key.per_second"). */
export const LIMIT_FIELDS: string[] = KINDS.flatMap((kind) =>
  LEVELS.flatMap((level) => PERIODS.map((period) => `${kind}.${level}.${period}`)),
);

function build<T>(make: (kind: Kind, level: Level, period: Period) => T): Record<Kind, Record<Level, Record<Period, T>>> {
  const byPeriod = (kind: Kind, level: Level) =>
    Object.fromEntries(PERIODS.map((period) => [period, make(kind, level, period)])) as Record<Period, T>;
  const byLevel = (kind: Kind) =>
    Object.fromEntries(LEVELS.map((level) => [level, byPeriod(kind, level)])) as Record<Level, Record<Period, T>>;
  return Object.fromEntries(KINDS.map((kind) => [kind, byLevel(kind)])) as Record<
    Kind,
    Record<Level, Record<Period, T>>
  >;
}

/** The form starts from the organization's own values; limits left at the default are empty. */
export function formValues(limits: RateLimits): RateLimitValues {
  return build((kind, level, period) => {
    const window = limits[kind][level][period];
    return window.custom ? window.limit : "";
  });
}

/** A PATCH naming every limit: a number sets it, null goes back to the default. */
export function updateBody(values: RateLimitValues): RateLimitsUpdate {
  return build((kind, level, period) => {
    const value = values[kind][level][period];
    return value === "" ? null : value;
  });
}

/** Changes only when a limit does, so that refreshing the usage keeps what is being typed. */
export function limitsSignature(limits: RateLimits): string {
  return JSON.stringify(formValues(limits));
}
