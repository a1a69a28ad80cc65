import { describe, expect, it } from "vitest";
import { COALESCE_MS, HISTORY_LIMIT, record, redo, startHistory, undo } from "./history";

describe("undo and redo", () => {
  it("goes back and forth through changes, and a new change drops the redo", () => {
    let history = record(record(startHistory("a"), "b"), "c");
    history = undo(history);
    expect(history.present).toBe("b");
    history = undo(history);
    expect(history.present).toBe("a");
    expect(undo(history)).toBe(history);
    history = redo(history);
    expect(history.present).toBe("b");
    history = record(history, "d");
    expect(history.future).toEqual([]);
    expect(redo(history)).toBe(history);
    expect(undo(history).present).toBe("b");
  });

  it("undoes quick changes in a row of one group together, and slower ones apart", () => {
    let history = startHistory("");
    let now = 10_000;
    for (const text of ["S", "Su", "Sub"]) history = record(history, text, "subject", (now += 100));
    history = record(history, "Sub!", "name", (now += 100));
    expect(undo(history).present).toBe("Sub");
    expect(undo(undo(history)).present).toBe("");
    history = record(history, "Sub!?", "name", (now += COALESCE_MS));
    expect(undo(history).present).toBe("Sub!");
  });

  it("keeps a bounded past", () => {
    let history = startHistory(0);
    for (let n = 1; n <= HISTORY_LIMIT + 10; n += 1) history = record(history, n);
    expect(history.past).toHaveLength(HISTORY_LIMIT);
  });
});
