/**
 * What the import form needs from a CSV before it is uploaded: its columns (read as the server
 * reads them), a few sample values, and the Herald field each column feeds unless mapped
 * otherwise. The rules follow herald/imports/service.py and docs/imports.md ("Columns and fields").
 */
import { DESCRIPTIVE_FIELDS, IDENTIFIER_FIELDS, LOCATION_FIELDS } from "../../lib/profileFields";

/** How much of the file is read for the header and the samples (the server's limit for the header). */
export const HEAD_BYTES = 1024 * 1024;
/** Data rows shown as samples under each column. */
export const SAMPLE_ROWS = 3;

/** The fields a column can feed directly, in the order the form offers them. */
export const BUILTIN_FIELDS = [...IDENTIFIER_FIELDS, ...DESCRIPTIVE_FIELDS, ...LOCATION_FIELDS] as const;
export const IGNORE = "ignore";
/** A column holding a JSON object of custom properties (what Herald's own export writes). */
export const PROPERTIES = "properties";
export const PROPERTY_PREFIX = "properties.";
/** Columns of Herald's export that describe the stored row, not the person. */
const EXPORT_ONLY_COLUMNS = ["id", "created_at", "updated_at"];
const DELIMITERS = [",", ";", "\t"] as const;
export type Delimiter = (typeof DELIMITERS)[number];

export interface CsvHead {
  /** The header's cells, trimmed: the column names a mapping refers to. */
  columns: string[];
  delimiter: Delimiter;
  /** Up to SAMPLE_ROWS data rows (blank ones skipped), each as long as the row is. */
  samples: string[][];
}

export class CsvHeadError extends Error {}

/**
 * The start of a file as text. `complete` says whether `bytes` is the whole file: if not, a
 * character cut in two at the end is no error. Throws CsvHeadError for bytes that are not UTF-8.
 */
export function decodeHead(bytes: Uint8Array, complete: boolean): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes, { stream: !complete });
  } catch {
    throw new CsvHeadError("This file is not UTF-8 text. Save it as UTF-8 (in Excel: CSV UTF-8) and pick it again.");
  }
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

/** Comma, semicolon or tab: whichever the first line has most of (the first of them on a tie). */
export function detectDelimiter(text: string): Delimiter {
  const newline = text.indexOf("\n");
  const firstLine = newline === -1 ? text : text.slice(0, newline);
  let best: Delimiter = DELIMITERS[0];
  let bestCount = -1;
  for (const delimiter of DELIMITERS) {
    const count = firstLine.split(delimiter).length - 1;
    if (count > bestCount) {
      best = delimiter;
      bestCount = count;
    }
  }
  return best;
}

/**
 * Up to `limit` records of CSV text, as Python's csv module reads them: a cell that starts with a
 * quote runs to the next lone quote ("" is a quote inside it) and may span lines; elsewhere a
 * quote is an ordinary character. Lines end with \n, \r\n or \r. With `complete` false, the last
 * record is left out when the text ends inside it (the rest of the file was not read).
 */
export function parseRecords(text: string, delimiter: string, limit: number, complete = true): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = "";
  let quoted = false; // inside a quoted cell
  let cellStarted = false; // the cell has a character (or an opening quote) already
  let i = 0;
  const endCell = () => {
    record.push(cell);
    cell = "";
    cellStarted = false;
  };
  const endRecord = () => {
    endCell();
    records.push(record);
    record = [];
  };
  while (i < text.length && records.length < limit) {
    const char = text[i];
    if (quoted) {
      if (char === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        cell += char;
      }
      i += 1;
      continue;
    }
    if (char === '"' && !cellStarted) {
      quoted = true;
      cellStarted = true;
    } else if (char === delimiter) {
      endCell();
    } else if (char === "\n" || char === "\r") {
      endRecord();
      if (char === "\r" && text[i + 1] === "\n") i += 1;
    } else {
      cell += char;
      cellStarted = true;
    }
    i += 1;
  }
  // Text after the last line break is a record only when it is the end of the file.
  const pending = cellStarted || record.length > 0;
  if (complete && pending && records.length < limit) endRecord();
  return records;
}

function isBlank(record: readonly string[]): boolean {
  return record.every((cell) => cell.trim() === "");
}

/** The columns, delimiter and sample rows of the start of a CSV file. Throws CsvHeadError when
 * the server would refuse the file for its header. */
export function readCsvHead(text: string, complete: boolean): CsvHead {
  if (text.length === 0) throw new CsvHeadError("This file is empty.");
  const newline = text.indexOf("\n");
  if (newline === -1 && !complete) throw new CsvHeadError("The header row is longer than 1 MB.");
  const delimiter = detectDelimiter(text);
  const [header = [], ...rows] = parseRecords(text, delimiter, 1 + SAMPLE_ROWS * 4, complete);
  const columns = header.map((cell) => cell.trim());
  if (!columns.some(Boolean)) throw new CsvHeadError("The first row must name the columns.");
  const samples = rows.filter((row) => !isBlank(row)).slice(0, SAMPLE_ROWS);
  return { columns, delimiter, samples };
}

function simpleName(name: string): string {
  return name.trim().toLowerCase().replace(/[\s-]+/g, "_");
}

const DIRECT_FIELDS: readonly string[] = [...BUILTIN_FIELDS, PROPERTIES];

/**
 * The field a column feeds when the upload has no mapping for it: the field of the same name
 * (ignoring case, spaces and hyphens as underscores), `properties.<name>` for a column so named,
 * nothing for an unnamed column and for the export's id and timestamps, else a custom property
 * named as the column.
 */
export function automaticField(column: string): string {
  if (!column) return IGNORE;
  const simple = simpleName(column);
  if (DIRECT_FIELDS.includes(simple)) return simple;
  if (EXPORT_ONLY_COLUMNS.includes(simple)) return IGNORE;
  if (column.toLowerCase().startsWith(PROPERTY_PREFIX) && column.length > PROPERTY_PREFIX.length) {
    return PROPERTY_PREFIX + column.slice(PROPERTY_PREFIX.length).trim();
  }
  return PROPERTY_PREFIX + column;
}

/** Common spellings of column names and the field each means (herald/imports/headers.py holds
 * the same table): compared as lower-case letters and digits only. */
const HEADER_SPELLINGS: Record<string, readonly string[]> = {
  email: ["email", "e-mail", "email address", "e-mail address", "mail", "email_address"],
  phone: ["phone", "phone number", "phone no", "telephone", "tel", "mobile", "mobile number", "mobile phone", "cell", "cell phone"],
  external_id: ["external id", "customer id", "user id", "customer number"],
  first_name: ["first name", "firstname", "given name", "forename", "fname"],
  last_name: ["last name", "lastname", "surname", "family name", "lname"],
  timezone: ["timezone", "time zone", "tz"],
  address1: ["address", "address 1", "address line 1", "street", "street address"],
  address2: ["address 2", "address line 2"],
  city: ["city", "town"],
  region: ["region", "state", "province", "county", "state/province"],
  country: ["country", "country code", "country name"],
  zip: ["zip", "zip code", "zipcode", "postal code", "postcode", "post code"],
};

/** "E-mail Address" -> "emailaddress". */
export function headerKey(name: string): string {
  return name.toLowerCase().replace(/[^0-9a-z]+/g, "");
}

const FIELD_BY_KEY = new Map(
  Object.entries(HEADER_SPELLINGS).flatMap(([field, spellings]) =>
    [field, ...spellings].map((spelling) => [headerKey(spelling), field] as const),
  ),
);

/** The field a column of this name feeds by its spelling ("Phone Number" -> phone), if any. */
export function fieldForHeader(name: string): string | undefined {
  return FIELD_BY_KEY.get(headerKey(name));
}

/**
 * The field each column feeds without a mapping, as the server decides: `automaticField`, then
 * a common spelling takes its field unless another column already feeds it.
 */
export function automaticFields(columns: readonly string[]): string[] {
  const fields = columns.map(automaticField);
  const taken = new Set(fields);
  columns.forEach((column, index) => {
    const spelled = fieldForHeader(column);
    if (spelled !== undefined && !taken.has(spelled)) {
      fields[index] = spelled;
      taken.add(spelled);
    }
  });
  return fields;
}

/** What the form holds for a column: a field, or "property" with the custom property's name. */
export interface ColumnChoice {
  field: string;
  property: string;
}

export const CUSTOM_PROPERTY = "property";

export function choiceFor(field: string): ColumnChoice {
  return field.startsWith(PROPERTY_PREFIX)
    ? { field: CUSTOM_PROPERTY, property: field.slice(PROPERTY_PREFIX.length) }
    : { field, property: "" };
}

export function fieldOf(choice: ColumnChoice): string {
  return choice.field === CUSTOM_PROPERTY ? PROPERTY_PREFIX + choice.property.trim() : choice.field;
}

/** Columns whose name the header has more than once: a mapping cannot name them, so they map
 * automatically. */
export function repeatedColumns(columns: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const column of columns) (seen.has(column) ? repeated : seen).add(column);
  return repeated;
}

/**
 * The `mapping` to upload: every column the header names once, with the field the form shows for
 * it. Sending all of them (not only the changed ones) means the server imports exactly what the
 * form showed, even where its automatic rule and `automaticField` might ever disagree.
 */
export function mappingFor(columns: readonly string[], choices: readonly ColumnChoice[]): Record<string, string> {
  const repeated = repeatedColumns(columns);
  const mapping: Record<string, string> = {};
  columns.forEach((column, index) => {
    const choice = choices[index];
    if (!repeated.has(column) && choice) mapping[column] = fieldOf(choice);
  });
  return mapping;
}

/** Whether some column feeds an identifier, as every row needs one. */
export function hasIdentifier(fields: readonly string[]): boolean {
  return fields.some((field) => (IDENTIFIER_FIELDS as readonly string[]).includes(field));
}
