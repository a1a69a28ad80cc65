/** The copyable "send your first event" snippets, filled with a public key and this Herald's URL. */

export const KEY_PLACEHOLDER = "pk_YOUR_PUBLIC_KEY";

export interface Snippet {
  id: "curl" | "javascript" | "python";
  label: string;
  language: string;
  caption: string;
  code: string;
}

/** Single-quoted for a POSIX shell. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function htmlAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

export function snippets(origin: string, publicKey: string | null | undefined): Snippet[] {
  const base = origin.replace(/\/+$/, "");
  const key = publicKey || KEY_PLACEHOLDER;
  const event = {
    event: "Viewed Product",
    profile: { email: "ada@example.com" },
    properties: { product: "Green tea", price: 12.5 },
    value: 12.5,
  };
  const curl = [
    `curl -X POST ${shellQuote(`${base}/api/track`)} \\`,
    `  -H ${shellQuote(`Authorization: Bearer ${key}`)} \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(JSON.stringify(event))}`,
  ].join("\n");
  const javascript = [
    "<!-- In your site's <head>: calls made before sdk.js loads are queued. -->",
    "<script>",
    "  window.herald = window.herald || [];",
    '  ["init", "identify", "track", "page", "reset"].forEach(function (m) {',
    "    herald[m] = herald[m] || function () { herald.push([m].concat([].slice.call(arguments))); };",
    "  });",
    "</script>",
    `<script async src="${htmlAttribute(`${base}/sdk.js`)}" data-key="${htmlAttribute(key)}"></script>`,
    "<script>",
    "  herald.page();",
    '  herald.track("Viewed Product", {product: "Green tea", price: 12.5}, {value: 12.5});',
    "  // When the visitor signs in or subscribes:",
    '  herald.identify({email: "ada@example.com", first_name: "Ada"});',
    "</script>",
  ].join("\n");
  const python = [
    "import httpx  # or requests: the same call",
    "",
    "httpx.post(",
    `    ${JSON.stringify(`${base}/api/track`)},`,
    `    headers={"Authorization": ${JSON.stringify(`Bearer ${key}`)}},`,
    "    json={",
    '        "event": "Viewed Product",',
    '        "profile": {"email": "ada@example.com"},',
    '        "properties": {"product": "Green tea", "price": 12.5},',
    '        "value": 12.5,',
    "    },",
    ").raise_for_status()",
  ].join("\n");
  return [
    {
      id: "curl",
      label: "curl",
      language: "shell",
      caption: "Run it in a terminal: it sends one event for ada@example.com.",
      code: curl,
    },
    {
      id: "javascript",
      label: "JavaScript (website)",
      language: "html",
      caption: "Add it to your site's pages: it tracks visitors anonymously until they identify.",
      code: javascript,
    },
    {
      id: "python",
      label: "Python",
      language: "python",
      caption: "From your backend (with httpx installed).",
      code: python,
    },
  ];
}
