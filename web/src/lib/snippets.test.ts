import { describe, expect, it } from "vitest";
import { KEY_PLACEHOLDER, snippets } from "./snippets";

const byId = (origin: string, key: string | null) =>
  Object.fromEntries(snippets(origin, key).map((s) => [s.id, s.code]));

describe("first-event snippets", () => {
  it("use this Herald's address and the public key", () => {
    const code = byId("http://herald.local:8000/", "pk_abc");
    expect(code.curl).toContain("'http://herald.local:8000/api/track'");
    expect(code.curl).toContain("'Authorization: Bearer pk_abc'");
    expect(code.javascript).toContain('<script async src="http://herald.local:8000/sdk.js" data-key="pk_abc"></script>');
    expect(code.python).toContain('"http://herald.local:8000/api/track"');
    expect(code.python).toContain('"Bearer pk_abc"');
  });

  it("hold a placeholder until there is a key", () => {
    for (const code of Object.values(byId("http://h", null))) expect(code).toContain(KEY_PLACEHOLDER);
  });

  it("send a body the track endpoint accepts", () => {
    const curl = byId("http://h", "pk_1").curl ?? "";
    const body = JSON.parse(curl.slice(curl.indexOf("-d '") + 4, curl.lastIndexOf("'")));
    expect(body).toMatchObject({ event: "Viewed Product", profile: { email: "ada@example.com" } });
  });

  it("quote what they embed", () => {
    const code = byId(`http://h"'<`, "pk_1");
    expect(code.curl).toContain(`'http://h"'\\''</api/track'`);
    expect(code.javascript).toContain('src="http://h&quot;\'&lt;/sdk.js"');
  });
});
