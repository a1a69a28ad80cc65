import { describe, expect, it } from "vitest";
import { NO_REMOTE_CONTENT, withContentPolicy } from "./emailHtml";

const META = `<meta http-equiv="Content-Security-Policy" content="${NO_REMOTE_CONTENT}"><base target="_blank">`;

describe("withContentPolicy", () => {
  it("goes right after <head>, attributes and all", () => {
    const html = '<!doctype html><html><head lang="en"><title>x</title></head><body>hi</body></html>';
    expect(withContentPolicy(html, NO_REMOTE_CONTENT)).toBe(
      `<!doctype html><html><head lang="en">${META}<title>x</title></head><body>hi</body></html>`,
    );
  });

  it("does not mistake <header> for <head>", () => {
    const html = "<!DOCTYPE html><body><header>top</header></body>";
    expect(withContentPolicy(html, NO_REMOTE_CONTENT)).toBe(`<!DOCTYPE html>${META}<body><header>top</header></body>`);
  });

  it("goes first in a fragment", () => {
    expect(withContentPolicy("<p>hi</p>", NO_REMOTE_CONTENT)).toBe(`${META}<p>hi</p>`);
  });

  it("escapes the policy into its attribute", () => {
    expect(withContentPolicy("<p>", 'a"b')).toContain('content="a&quot;b"');
  });

  it("blocks remote content when it is the policy the browser reads", () => {
    const doc = new DOMParser().parseFromString(
      withContentPolicy('<html><head></head><body><img src="https://tracker.example/o.gif"></body></html>', NO_REMOTE_CONTENT),
      "text/html",
    );
    const meta = doc.head.querySelector('meta[http-equiv="Content-Security-Policy"]');
    expect(meta?.getAttribute("content")).toBe(NO_REMOTE_CONTENT);
    expect(doc.head.firstElementChild).toBe(meta);
  });
});
