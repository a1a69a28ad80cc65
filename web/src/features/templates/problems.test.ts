import { describe, expect, it } from "vitest";
import { describeProblem, groupProblems, offsetAt, parseProblem, positionAt } from "./problems";

describe("parseProblem", () => {
  it("reads the line and column in front of the reason", () => {
    expect(parseProblem("line 3, column 5: 'profle' is not defined")).toEqual({
      line: 3,
      column: 5,
      message: "'profle' is not defined",
    });
  });

  it("reads a line without a column", () => {
    expect(parseProblem("line 12: unexpected end of template")).toEqual({
      line: 12,
      column: null,
      message: "unexpected end of template",
    });
  });

  it("keeps a reason without a position as it is", () => {
    expect(parseProblem("must use {{ unsubscribe_url }}")).toEqual({
      line: null,
      column: null,
      message: "must use {{ unsubscribe_url }}",
    });
  });
});

describe("describeProblem", () => {
  it("puts the position first, capitalized", () => {
    expect(describeProblem({ line: 2, column: 7, message: "boom" })).toBe("Line 2, column 7: boom");
    expect(describeProblem({ line: 2, column: null, message: "boom" })).toBe("Line 2: boom");
    expect(describeProblem({ line: null, column: null, message: "boom" })).toBe("boom");
  });
});

describe("groupProblems", () => {
  it("groups by field, keeping Herald's order, nested fields under their first part", () => {
    const grouped = groupProblems([
      { field: "body", reason: "line 1, column 4: a" },
      { field: "subject", reason: "b" },
      { field: "body", reason: "line 9: c" },
      { field: "sample.profile", reason: "d" },
      { field: "", reason: "e" },
    ]);
    expect(Object.keys(grouped)).toEqual(["body", "subject", "sample", ""]);
    expect(grouped.body?.map((p) => p.line)).toEqual([1, 9]);
    expect(grouped[""]?.[0]?.message).toBe("e");
  });
});

describe("offsetAt", () => {
  const text = "ab\ncdef\n\nxyz";

  it("finds a line and column", () => {
    expect(offsetAt(text, 1, 1)).toBe(0);
    expect(offsetAt(text, 2, 3)).toBe(5);
    expect(text[offsetAt(text, 4, 2)]).toBe("y");
  });

  it("starts a line without a column at its beginning", () => {
    expect(offsetAt(text, 2, null)).toBe(3);
  });

  it("stops at the end of a line or of the text", () => {
    expect(offsetAt(text, 1, 99)).toBe(2);
    expect(offsetAt(text, 3, 5)).toBe(8);
    expect(offsetAt(text, 40, 1)).toBe(text.length);
  });

  it("counts characters as Python does, not UTF-16 units", () => {
    const emoji = "😀😀{{";
    // Python's column 3 is the first "{": two emoji before it, each two UTF-16 units.
    expect(offsetAt(emoji, 1, 3)).toBe(4);
    expect(emoji.slice(offsetAt(emoji, 1, 3))).toBe("{{");
  });
});

describe("positionAt", () => {
  it("is the inverse of offsetAt", () => {
    const text = "ab\n😀cdef\n\nxyz";
    for (let offset = 0; offset <= text.length; offset += 1) {
      if (offset === 4) continue; // inside the emoji's surrogate pair
      const { line, column } = positionAt(text, offset);
      expect(offsetAt(text, line, column)).toBe(offset);
    }
    expect(positionAt(text, 5)).toEqual({ line: 2, column: 2 });
  });
});
