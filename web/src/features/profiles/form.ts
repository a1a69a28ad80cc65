/** The profile forms (New profile, Edit profile): their values, what they check, and the request
 * bodies they send. `PATCH /api/profiles/{id}` changes only the fields it is sent: null clears a
 * field, custom properties merge into the stored ones, and `unset` names the ones to remove. */
import type { paths } from "../../api/schema";
import type { Profile, Schemas } from "../../api/client";
import { isJsonObject, parseJson } from "../../lib/json";
import { DESCRIPTIVE_FIELDS, IDENTIFIER_FIELDS, LOCATION_FIELDS } from "../../lib/profileFields";

export type ProfileCreate = Schemas["ProfileCreate"];
// By operation, not by schema name: a flow's update-profile step has a model of the same name.
export type ProfileUpdate = NonNullable<
  paths["/api/profiles/{profile_id}"]["patch"]["requestBody"]
>["content"]["application/json"];
type LocationBody = Schemas["Location"];

export const IDENTITY_FIELDS = [...IDENTIFIER_FIELDS, ...DESCRIPTIVE_FIELDS] as const;
type IdentityField = (typeof IDENTITY_FIELDS)[number];
type LocationField = (typeof LOCATION_FIELDS)[number];
export type ProfileField = IdentityField | LocationField;

/** The built-in fields, as typed. */
export type ProfileValues = Record<ProfileField, string>;

export interface CreateValues extends ProfileValues {
  /** Custom properties: a JSON object. */
  properties: string;
}

export interface StoredProperty {
  name: string;
  /** The value as JSON. */
  value: string;
  removed: boolean;
}

export interface NewProperty {
  name: string;
  /** The value as JSON. */
  value: string;
}

export interface EditValues extends ProfileValues {
  /** The profile's custom properties, sorted by name. */
  stored: StoredProperty[];
  added: NewProperty[];
}

/** Form paths (as @mantine/form names them: `added.0.value`) and what is wrong there. */
export type FormErrors = Record<string, string>;

export type Built<T> = { body: T; errors: null } | { body: null; errors: FormErrors };

/** The form's field names for the API's field names where they differ, for useApiErrors. */
export const FIELD_ALIASES: Readonly<Record<string, string>> = Object.fromEntries(
  LOCATION_FIELDS.map((name) => [`location.${name}`, name]),
);

/** Every form field an API error can be shown under. */
export const FORM_FIELDS: readonly string[] = [...IDENTITY_FIELDS, ...LOCATION_FIELDS, "properties"];

const COORDINATE_RANGE: Readonly<Record<"latitude" | "longitude", number>> = { latitude: 90, longitude: 180 };

function blankValues(): ProfileValues {
  const entries = [...IDENTITY_FIELDS, ...LOCATION_FIELDS].map((name) => [name, ""]);
  return Object.fromEntries(entries) as ProfileValues;
}

export function newProfileValues(): CreateValues {
  return { ...blankValues(), properties: "" };
}

/** A property value as the editor shows it: JSON, objects and lists indented. */
export function valueAsJson(value: unknown): string {
  const indent = value !== null && typeof value === "object" ? 2 : undefined;
  return JSON.stringify(value, null, indent) ?? "null";
}

export function toEditValues(profile: Profile): EditValues {
  const values = blankValues();
  for (const name of IDENTITY_FIELDS) values[name] = profile[name] ?? "";
  for (const name of LOCATION_FIELDS) {
    const stored = profile.location[name];
    values[name] = stored == null ? "" : String(stored);
  }
  const stored = Object.keys(profile.properties)
    .sort((a, b) => a.localeCompare(b))
    .map((name) => ({ name, value: valueAsJson(profile.properties[name]), removed: false }));
  return { ...values, stored, added: [] };
}

/** Custom properties typed as a JSON object; blank is none. */
export function parseProperties(text: string): { value: Record<string, unknown> } | { error: string } {
  if (!text.trim()) return { value: {} };
  const parsed = parseTyped(text);
  if ("error" in parsed) return parsed;
  if (!isJsonObject(parsed.value)) {
    return { error: 'Write a JSON object of names and values, such as {"plan": "pro", "orders": 3}.' };
  }
  return { value: parsed.value };
}

/** One property's value typed as JSON. */
export function parsePropertyValue(text: string): { value: unknown } | { error: string } {
  if (!text.trim()) {
    return { error: 'Write a JSON value: "text" in double quotes, a number, true, false, null, a list or an object.' };
  }
  return parseTyped(text);
}

function parseTyped(text: string): { value: unknown } | { error: string } {
  const parsed = parseJson(text);
  if ("error" in parsed) {
    return { error: `Not valid JSON (${parsed.error}). Text goes in double quotes, such as "gold".` };
  }
  return parsed;
}

/** A coordinate as typed: null when blank, else a number within its range, or why not. */
function parseCoordinate(name: "latitude" | "longitude", text: string): { value: number | null } | { error: string } {
  const trimmed = text.trim();
  if (!trimmed) return { value: null };
  const value = Number(trimmed);
  const range = COORDINATE_RANGE[name];
  if (!Number.isFinite(value) || Math.abs(value) > range) {
    return { error: `A number from -${range} to ${range}, such as ${name === "latitude" ? "51.5072" : "-0.1276"}` };
  }
  return { value };
}

/** The location as typed, each field null when blank; coordinate problems go into `errors`. */
function locationOf(values: ProfileValues, errors: FormErrors): Required<LocationBody> {
  const location = Object.fromEntries(LOCATION_FIELDS.map((name) => [name, null])) as Required<LocationBody>;
  for (const name of LOCATION_FIELDS) {
    if (name === "latitude" || name === "longitude") {
      const parsed = parseCoordinate(name, values[name]);
      if ("error" in parsed) errors[name] = parsed.error;
      else location[name] = parsed.value;
    } else {
      location[name] = values[name].trim() || null;
    }
  }
  return location;
}

function result<T>(body: T, errors: FormErrors): Built<T> {
  return Object.keys(errors).length > 0 ? { body: null, errors } : { body, errors: null };
}

/** What New profile sends: the fields that were filled in. */
export function buildCreateBody(values: CreateValues): Built<ProfileCreate> {
  const errors: FormErrors = {};
  const body: ProfileCreate = {};
  for (const name of IDENTITY_FIELDS) {
    const value = values[name].trim();
    if (value) body[name] = value;
  }
  if (!body.email && !body.phone && !body.external_id) {
    errors.email = "Give at least one of email, phone and external id";
  }
  const location = Object.fromEntries(
    Object.entries(locationOf(values, errors)).filter(([, value]) => value !== null),
  ) as LocationBody;
  if (Object.keys(location).length > 0) body.location = location;
  const properties = parseProperties(values.properties);
  if ("error" in properties) errors.properties = properties.error;
  else if (Object.keys(properties.value).length > 0) body.properties = properties.value;
  return result(body, errors);
}

/** What Edit profile sends: only what changed from `profile`; a cleared field as null, a removed
 * property in `unset`. An empty body means nothing changed. */
export function buildUpdateBody(profile: Profile, values: EditValues): Built<ProfileUpdate> {
  const errors: FormErrors = {};
  const body: ProfileUpdate = {};
  for (const name of IDENTITY_FIELDS) {
    const value = values[name].trim();
    if (value !== (profile[name] ?? "")) body[name] = value || null;
  }
  const typed = locationOf(values, errors);
  const location: LocationBody = {};
  for (const name of LOCATION_FIELDS) {
    if (typed[name] !== (profile.location[name] ?? null)) Object.assign(location, { [name]: typed[name] });
  }
  if (Object.keys(location).length > 0) body.location = location;

  const properties: Record<string, unknown> = {};
  const kept = new Set<string>();
  values.stored.forEach((property, index) => {
    if (property.removed) return;
    kept.add(property.name);
    const parsed = parsePropertyValue(property.value);
    if ("error" in parsed) errors[`stored.${index}.value`] = parsed.error;
    else if (!sameJson(parsed.value, profile.properties[property.name])) properties[property.name] = parsed.value;
  });
  const added = new Set<string>();
  values.added.forEach((property, index) => {
    const name = property.name.trim();
    if (!name && !property.value.trim()) return; // a row left empty
    if (!name) errors[`added.${index}.name`] = "Name the property";
    else if (kept.has(name)) errors[`added.${index}.name`] = `There is a property named ${name} already: change its value above`;
    else if (added.has(name)) errors[`added.${index}.name`] = `${name} is added twice`;
    added.add(name);
    const parsed = parsePropertyValue(property.value);
    if ("error" in parsed) errors[`added.${index}.value`] = parsed.error;
    else if (name) properties[name] = parsed.value;
  });
  if (Object.keys(properties).length > 0) body.properties = properties;
  // A property removed and added again under its name is replaced, not removed.
  const unset = values.stored.filter((p) => p.removed && !added.has(p.name)).map((p) => p.name);
  if (unset.length > 0) body.unset = unset;
  return result(body, errors);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The CSV export of the profiles the list shows (all, or those matching the search). */
/** The CSV export of the profiles the list's filters match (the API's query parameters). */
export function profilesExportHref(query: Record<string, string>): string {
  const search = new URLSearchParams(query).toString();
  return search ? `/api/profiles/export?${search}` : "/api/profiles/export";
}

/** The file name of one person's data export. */
export function profileExportFileName(profileId: string): string {
  return `profile-${profileId}.json`;
}
