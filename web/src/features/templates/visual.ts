/**
 * The visual editor's pure logic: the personalization tags it offers, Herald's own blocks, and
 * the checks that keep the MJML it saves the same kind of thing as MJML written by hand.
 */

/** One tag in the "Personalize" menu: what it says and the text it inserts. */
export interface PersonalizationTag {
  group: string;
  label: string;
  /** Inserted as text: Jinja, or HTML for the links. */
  insert: string;
}

const PROFILE_TAGS: readonly (readonly [string, string])[] = [
  ["First name", "{{ profile.first_name | default('there') }}"],
  ["Last name", "{{ profile.last_name }}"],
  ["Email", "{{ profile.email }}"],
  ["Phone", "{{ profile.phone }}"],
  ["City", "{{ profile.city }}"],
  ["Region", "{{ profile.region }}"],
  ["Country", "{{ profile.country }}"],
];

/** A Jinja reference to a custom property: dotted when the name allows, else subscripted. */
export function propertyReference(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `profile.properties.${name}`;
  const key = name.includes("'") ? JSON.stringify(name) : `'${name}'`;
  return `profile.properties[${key}]`;
}

/** Every tag the menu offers, the organization's custom properties included. */
export function personalizationTags(customProperties: readonly string[]): PersonalizationTag[] {
  return [
    ...PROFILE_TAGS.map(([label, insert]) => ({ group: "Profile", label, insert })),
    ...[...customProperties]
      .sort((a, b) => a.localeCompare(b))
      .map((name) => ({ group: "Custom properties", label: name, insert: `{{ ${propertyReference(name)} }}` })),
    { group: "Required in marketing email", label: "Unsubscribe link", insert: '<a href="{{ unsubscribe_url }}">Unsubscribe</a>' },
    { group: "Required in marketing email", label: "Postal address", insert: "{{ organization.postal_address }}" },
    { group: "Other", label: "Preferences link", insert: '<a href="{{ preferences_url }}">Preferences</a>' },
    { group: "Other", label: "Organization name", insert: "{{ organization.name }}" },
  ];
}

/** An image that stands in until one is picked: a grey box, drawn here (nothing is fetched). */
export const IMAGE_PLACEHOLDER =
  "data:image/svg+xml;charset=utf-8," +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="300"><rect width="600" height="300" fill="#dee2e6"/>' +
      '<text x="300" y="160" font-family="sans-serif" font-size="24" fill="#868e96" text-anchor="middle">Double-click to choose an image</text></svg>',
  );

/** A product from the event that triggered a flow (an abandoned cart's first item). */
export const PRODUCT_BLOCK = `<mj-section background-color="#ffffff">
  <mj-column width="40%">
    <mj-image src="{{ event.items[0].image_url | default('${IMAGE_PLACEHOLDER}') }}" alt="{{ event.items[0].name }}"></mj-image>
  </mj-column>
  <mj-column width="60%">
    <mj-text font-size="18px" font-weight="bold">{{ event.items[0].name | default('Your item') }}</mj-text>
    <mj-text>{{ event.items[0].price | currency(event.currency | default('USD')) }}</mj-text>
    <mj-button href="{{ event.items[0].url | default('#') }}">View it</mj-button>
  </mj-column>
</mj-section>`;

/** The footer marketing email must carry: the postal address and an unsubscribe link. */
export const FOOTER_BLOCK = `<mj-section>
  <mj-column>
    <mj-text font-size="12px" color="#868e96" align="center">{{ organization.name }}, {{ organization.postal_address }}<br><a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a></mj-text>
  </mj-column>
</mj-section>`;

/** The body the visual editor starts from when the code is empty. */
export const EMPTY_MJML = `<mjml>\n  <mj-body>\n${FOOTER_BLOCK}\n  </mj-body>\n</mjml>\n`;

const CONSTRUCT = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g;

const ENTITIES: Readonly<Record<string, string>> = {
  "&#39;": "'",
  "&#039;": "'",
  "&apos;": "'",
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&nbsp;": " ",
  "&#160;": " ",
};

/** A Jinja construct with the HTML escaping an editor may add taken out. A double quote comes
 * back as itself in text, and as a single quote (the same string to Jinja) inside a tag, where
 * it would end the attribute. */
function unescapeConstruct(construct: string, inTag: boolean): string {
  return construct.replace(/&(?:quot|#34|#0?39|apos|amp|lt|gt|nbsp|#160);/g, (entity) =>
    entity === "&quot;" || entity === "&#34;" ? (inTag ? "'" : '"') : (ENTITIES[entity] ?? entity),
  );
}

/**
 * The editor's MJML with its Jinja as Jinja again: GrapesJS writes text as HTML, so a quote in
 * `{{ name | default("there") }}` may come out as `&quot;`, which Jinja cannot read.
 */
export function restoreJinja(mjml: string): string {
  return mjml.replace(CONSTRUCT, (construct: string, offset: number) => {
    const before = mjml.slice(0, offset);
    return unescapeConstruct(construct, before.lastIndexOf("<") > before.lastIndexOf(">"));
  });
}

/** The Jinja constructs of a source, each with its whitespace collapsed, in order. */
export function jinjaConstructs(source: string): string[] {
  return (restoreJinja(source).match(CONSTRUCT) ?? []).map((c) => c.replace(/\s+/g, " ").replace(/"/g, "'"));
}

/**
 * What the visual editor would lose of `before` if it saved `after`: the personalization that is
 * missing or changed. Empty when every construct came through.
 */
export function lostConstructs(before: string, after: string): string[] {
  const remaining = new Map<string, number>();
  for (const construct of jinjaConstructs(after)) remaining.set(construct, (remaining.get(construct) ?? 0) + 1);
  const lost: string[] = [];
  for (const construct of jinjaConstructs(before)) {
    const left = remaining.get(construct) ?? 0;
    if (left > 0) remaining.set(construct, left - 1);
    else lost.push(construct);
  }
  return lost;
}

/**
 * Why a body cannot be opened in the visual editor before trying (null when it may be): the
 * editor reads one MJML document; `<mj-include>` and Jinja statements between elements (which
 * must sit in `<mj-raw>`) it cannot keep.
 */
export function visualBlocker(body: string): string | null {
  const source = body.replace(/<!--[\s\S]*?-->/g, "").trim();
  if (!source) return null;
  if (!/^<mjml[\s>]/i.test(source)) return "The visual editor opens MJML documents (<mjml>…</mjml>) only.";
  if (!/<mj-body[\s>]/i.test(source)) return "The MJML has no <mj-body>.";
  if (/<mj-include[\s>/]/i.test(source)) return "The visual editor cannot show <mj-include>.";
  return null;
}

/** Whether the MJML fragment a saved block holds goes in a body (a section or wrapper). */
export function isSectionFragment(mjml: string): boolean {
  return /^<mj-(section|wrapper)[\s>]/i.test(mjml.trim());
}

/** Elements whose content is text or HTML, kept on the element's line as it is. */
const LEAF_ELEMENTS = new Set([
  "mj-text",
  "mj-button",
  "mj-raw",
  "mj-table",
  "mj-style",
  "mj-preview",
  "mj-title",
  "mj-font",
  "mj-navbar-link",
  "mj-social-element",
  "mj-accordion-title",
  "mj-accordion-text",
]);

const TAG = /<(\/?)(mj[a-z0-9-]*|mjml)\b((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/gi;

/**
 * MJML laid out one element a line, indented by depth, as a person would write it; the content
 * of text-like elements (mj-text, mj-button, mj-raw, ...) stays exactly as it was. GrapesJS
 * exports the body as one long line.
 */
export function formatMjml(mjml: string): string {
  const lines: string[] = [];
  let depth = 0;
  let cursor = 0;
  let leaf: { name: string; start: number; indent: number } | null = null;
  const pad = (n: number) => "  ".repeat(Math.max(0, n));
  for (const match of mjml.matchAll(TAG)) {
    const [whole, closing, rawName, , selfClosing] = match;
    const name = (rawName ?? "").toLowerCase();
    const index = match.index;
    if (leaf) {
      if (closing && name === leaf.name) {
        lines.push(pad(leaf.indent) + mjml.slice(leaf.start, index + whole.length).trim());
        cursor = index + whole.length;
        leaf = null;
      }
      continue;
    }
    const between = mjml.slice(cursor, index).trim();
    if (between) lines.push(pad(depth) + between);
    cursor = index + whole.length;
    if (closing) {
      depth -= 1;
      lines.push(pad(depth) + whole);
    } else if (selfClosing) {
      lines.push(pad(depth) + whole);
    } else if (LEAF_ELEMENTS.has(name)) {
      leaf = { name, start: index, indent: depth };
    } else {
      lines.push(pad(depth) + whole);
      depth += 1;
    }
  }
  const rest = mjml.slice(leaf ? leaf.start : cursor).trim();
  if (rest) lines.push(pad(leaf ? leaf.indent : depth) + rest);
  return lines.join("\n") + "\n";
}
