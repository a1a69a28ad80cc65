import { describe, expect, it } from "vitest";
import {
  automaticField,
  automaticFields,
  choiceFor,
  CsvHeadError,
  decodeHead,
  detectDelimiter,
  fieldOf,
  hasIdentifier,
  mappingFor,
  parseRecords,
  readCsvHead,
} from "./csvHeader";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("decodeHead", () => {
  it("drops a byte order mark and keeps the rest", () => {
    expect(decodeHead(Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes("email\n")]), true)).toBe("email\n");
  });

  it("refuses bytes that are not UTF-8", () => {
    expect(() => decodeHead(Uint8Array.from([0x65, 0xe9, 0x0a]), true)).toThrow(CsvHeadError);
  });

  it("accepts a character cut in two at the end of a partial read, not of the whole file", () => {
    const cut = bytes("name\nRené").slice(0, -1); // the last byte of "é" is missing
    expect(decodeHead(cut, false)).toBe("name\nRen");
    expect(() => decodeHead(cut, true)).toThrow(CsvHeadError);
  });
});

describe("detectDelimiter", () => {
  it("takes whichever of comma, semicolon and tab the first line has most of", () => {
    expect(detectDelimiter("email;first name;plan\na,b;c")).toBe(";");
    expect(detectDelimiter("email\tname\tnote, with a comma\n")).toBe("\t");
    expect(detectDelimiter("email,name\n;;;;;")).toBe(",");
  });

  it("prefers the comma on a tie, and for a single column", () => {
    expect(detectDelimiter("a,b;c")).toBe(",");
    expect(detectDelimiter("email\n")).toBe(",");
  });

  it("counts delimiters inside quotes too, as the server does", () => {
    expect(detectDelimiter('"a;b;c",d\n')).toBe(";");
  });
});

describe("parseRecords", () => {
  it("reads quoted cells with delimiters, doubled quotes and line breaks", () => {
    const text = 'email,"Notes, long","He said ""hi"""\r\na@example.com,"two\nlines",x\n';
    expect(parseRecords(text, ",", 10)).toEqual([
      ["email", "Notes, long", 'He said "hi"'],
      ["a@example.com", "two\nlines", "x"],
    ]);
  });

  it("treats a quote inside an unquoted cell as a character, and keeps text after a closing quote", () => {
    expect(parseRecords('5" screen,"a"b, "c"\n', ",", 1)).toEqual([['5" screen', "ab", ' "c"']]);
  });

  it("keeps empty cells and a last line without a line break", () => {
    expect(parseRecords("a,,c\n,,\nx,y,z", ",", 10)).toEqual([
      ["a", "", "c"],
      ["", "", ""],
      ["x", "y", "z"],
    ]);
  });

  it("stops after the limit and leaves out a record the read cut short", () => {
    expect(parseRecords("h\n1\n2\n3\n", ",", 2)).toEqual([["h"], ["1"]]);
    expect(parseRecords('h\n1\n"2 cut', ",", 10, false)).toEqual([["h"], ["1"]]);
  });

  it("reads carriage returns alone as line breaks", () => {
    expect(parseRecords("a;b\r1;2\r", ";", 10)).toEqual([
      ["a", "b"],
      ["1", "2"],
    ]);
  });
});

describe("readCsvHead", () => {
  it("gives trimmed column names and the first data rows, skipping blank ones", () => {
    const head = readCsvHead(" E-mail ;Plan;\n\n;;\na@example.com;pro;x\nb@example.com;;\nc@example.com;free;\nd@example.com;;\n", true);
    expect(head.delimiter).toBe(";");
    expect(head.columns).toEqual(["E-mail", "Plan", ""]);
    expect(head.samples).toEqual([
      ["a@example.com", "pro", "x"],
      ["b@example.com", "", ""],
      ["c@example.com", "free", ""],
    ]);
  });

  it("refuses what the server refuses: an empty file, a header without names, a header over 1 MB", () => {
    expect(() => readCsvHead("", true)).toThrow("This file is empty.");
    expect(() => readCsvHead(",,\n1,2,3\n", true)).toThrow("The first row must name the columns.");
    expect(() => readCsvHead("a,b,c", false)).toThrow("longer than 1 MB");
  });
});

describe("automaticField", () => {
  it("maps a column named as a field to it, ignoring case, spaces and hyphens", () => {
    expect(automaticField("Email")).toBe("email");
    expect(automaticField("First Name")).toBe("first_name");
    expect(automaticField("external-id")).toBe("external_id");
    expect(automaticField("ZIP")).toBe("zip");
    expect(automaticField("properties")).toBe("properties");
  });

  it("ignores unnamed columns and the export's id and timestamps", () => {
    for (const column of ["", "id", "Created At", "updated_at"]) expect(automaticField(column)).toBe("ignore");
  });

  it("makes every other column a custom property of the same name", () => {
    expect(automaticField("Plan")).toBe("properties.Plan");
    expect(automaticField("E-mail")).toBe("properties.E-mail");
    expect(automaticField("properties.tier")).toBe("properties.tier");
    expect(automaticField("Properties. Tier")).toBe("properties.Tier");
    expect(automaticField("properties.")).toBe("properties.properties.");
  });
});

describe("mapping", () => {
  it("turns choices into fields and back", () => {
    expect(choiceFor("properties.Plan")).toEqual({ field: "property", property: "Plan" });
    expect(choiceFor("email")).toEqual({ field: "email", property: "" });
    expect(fieldOf({ field: "property", property: " tier " })).toBe("properties.tier");
    expect(fieldOf({ field: "ignore", property: "left over" })).toBe("ignore");
  });

  it("names every column once, and leaves repeated column names to the server", () => {
    const columns = ["E-mail", "Plan", "", "note", "note"];
    const choices = [
      { field: "email", property: "" },
      { field: "property", property: "plan" },
      { field: "ignore", property: "" },
      { field: "property", property: "note" },
      { field: "property", property: "note" },
    ];
    expect(mappingFor(columns, choices)).toEqual({ "E-mail": "email", Plan: "properties.plan", "": "ignore" });
  });

  it("knows whether a row can find its profile", () => {
    expect(hasIdentifier(["properties.E-mail", "first_name"])).toBe(false);
    expect(hasIdentifier(["ignore", "phone"])).toBe(true);
  });
});

describe("automaticFields", () => {
  it("maps common spellings to their fields unless another column feeds the field", () => {
    expect(
      automaticFields(["E-mail Address", "Phone Number", "First Name", "Last name", "Zip", "Postal code", "COUNTRY", "Town", "City"]),
    ).toEqual([
      "email",
      "phone",
      "first_name",
      "last_name",
      "zip",
      "properties.Postal code",
      "country",
      "properties.Town",
      "city",
    ]);
    expect(automaticFields(["Plan", "id"])).toEqual(["properties.Plan", "ignore"]);
  });
});
