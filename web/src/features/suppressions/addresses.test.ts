import { describe, expect, it } from "vitest";
import { channelOf, describeBulkErrors, parseAddressList } from "./addresses";

describe("parseAddressList", () => {
  it("takes one entry a line, or separated by commas and semicolons", () => {
    const { items, repeated } = parseAddressList("ada@example.com\n bob@example.com ,carol@example.com;\n\n+1 555 0100\r\n");
    expect(items).toEqual([
      { channel: "email", address: "ada@example.com" },
      { channel: "email", address: "bob@example.com" },
      { channel: "email", address: "carol@example.com" },
      { channel: "sms", address: "+1 555 0100" },
    ]);
    expect(repeated).toBe(0);
  });

  it("reads names with angle brackets and quotes", () => {
    expect(parseAddressList('"Ada L" <ada@example.com>\n"bob@example.com"').items.map((i) => i.address)).toEqual([
      "ada@example.com",
      "bob@example.com",
    ]);
  });

  it("keeps repeated entries once, emails without case and phones without punctuation", () => {
    const { items, repeated } = parseAddressList("Ada@Example.com\nada@example.com\n+1 (555) 0100\n+15550100");
    expect(items).toHaveLength(2);
    expect(repeated).toBe(2);
  });

  it("can force one channel", () => {
    expect(parseAddressList("5550100", "sms").items).toEqual([{ channel: "sms", address: "5550100" }]);
    expect(parseAddressList("not-an-email", "email").items[0]?.channel).toBe("email");
  });

  it("gives nothing for blank text", () => {
    expect(parseAddressList(" \n ,; ")).toEqual({ items: [], repeated: 0 });
  });
});

describe("channelOf", () => {
  it("tells email from phone numbers", () => {
    expect(channelOf("a@b.c")).toBe("email");
    expect(channelOf("+4930123456")).toBe("sms");
  });
});

describe("describeBulkErrors", () => {
  it("names each bad entry by its address", () => {
    const items = parseAddressList("ok@example.com\nnope@").items;
    expect(describeBulkErrors(items, [{ index: 1, field: "suppressions[1].address", reason: "not an email address" }])).toEqual([
      "nope@: not an email address",
    ]);
    expect(describeBulkErrors(items, [{ index: 7, field: "suppressions[7]", reason: "bad" }])).toEqual(["Entry 8: bad"]);
  });
});
