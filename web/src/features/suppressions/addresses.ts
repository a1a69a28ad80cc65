/** Reading a pasted list of addresses for the suppression list's bulk add. */

export type Channel = "email" | "sms";

export interface PastedAddress {
  channel: Channel;
  address: string;
}

export interface PastedList {
  items: PastedAddress[];
  /** Entries given more than once (after the first). */
  repeated: number;
}

/** `Ada <ada@example.com>` → `ada@example.com`; quotes and angle brackets go. */
function cleanEntry(entry: string): string {
  let value = entry.trim();
  const angled = /<([^<>]+)>\s*$/.exec(value);
  if (angled?.[1]) value = angled[1].trim();
  return value.replace(/^["'<\s]+|["'>\s]+$/g, "");
}

/** Email when it has an @, else a phone number (what Herald then reads with the region). */
export function channelOf(address: string): Channel {
  return address.includes("@") ? "email" : "sms";
}

/**
 * One entry a line, or separated by commas or semicolons (as copied from a spreadsheet or a mail
 * client). Blank entries are skipped; repeated ones are kept once (emails compared without case).
 * `only` forces every entry to one channel.
 */
export function parseAddressList(text: string, only?: Channel): PastedList {
  const items: PastedAddress[] = [];
  const seen = new Set<string>();
  let repeated = 0;
  for (const entry of text.split(/[\n\r,;\t]+/)) {
    const address = cleanEntry(entry);
    if (!address) continue;
    const channel = only ?? channelOf(address);
    const key = `${channel}:${channel === "email" ? address.toLowerCase() : address.replace(/[\s().-]/g, "")}`;
    if (seen.has(key)) {
      repeated += 1;
      continue;
    }
    seen.add(key);
    items.push({ channel, address });
  }
  return { items, repeated };
}

/** Herald reports a bad bulk item as `suppressions[3].address`; this names the entry instead. */
export function describeBulkErrors(
  items: readonly PastedAddress[],
  errors: readonly { index: number; field: string; reason: string }[],
): string[] {
  return errors.map((error) => {
    const item = items[error.index];
    const reason = error.reason.replace(/^Value error, /, "");
    return item ? `${item.address}: ${reason}` : `Entry ${error.index + 1}: ${reason}`;
  });
}
