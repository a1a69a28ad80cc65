/**
 * Email HTML is shown in a sandboxed iframe (no scripts, no same-origin access). What it may load
 * is narrowed further with a Content-Security-Policy placed at the start of the document: an
 * outbox message's remote images include the open pixel, which would record an open.
 */

/** Inline styles and images in the message itself only: nothing is fetched from anywhere. */
export const NO_REMOTE_CONTENT = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:";
/** Images and fonts from anywhere (as a mail client showing images would), still no scripts. */
export const REMOTE_IMAGES = "default-src 'none'; img-src * data: cid:; style-src * 'unsafe-inline'; font-src * data:";

function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

/**
 * `html` with a CSP <meta> as early as it can go without changing how the document renders:
 * right after <head> when there is one, else right after the doctype (a meta before the
 * doctype would put the page in quirks mode), else first. Links open in a new tab.
 */
export function withContentPolicy(html: string, policy: string): string {
  const meta =
    `<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(policy)}">` + '<base target="_blank">';
  const head = /<head(?:\s[^>]*)?>/i.exec(html);
  if (head) {
    const at = head.index + head[0].length;
    return html.slice(0, at) + meta + html.slice(at);
  }
  const doctype = /^\s*<!doctype[^>]*>/i.exec(html);
  if (doctype) {
    const at = doctype[0].length;
    return html.slice(0, at) + meta + html.slice(at);
  }
  return meta + html;
}
