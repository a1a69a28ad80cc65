import { describe, expect, it } from "vitest";
import { chartGeometry, niceCeiling, shortDay, summarize, ticks, type GrowthPoint } from "./growth";

const BOX = { width: 100, height: 60, left: 10, right: 10, top: 10, bottom: 10 };

function day(date: string, members: number, entered = 0, exited = 0): GrowthPoint {
  return { date, members, entered, exited };
}

describe("growth chart", () => {
  it("ends the y axis on a round number", () => {
    expect(niceCeiling(0)).toBe(1);
    expect(niceCeiling(3)).toBe(5);
    expect(niceCeiling(11)).toBe(20);
    expect(niceCeiling(240)).toBe(250);
    expect(niceCeiling(1000)).toBe(1000);
    expect(ticks(1)).toEqual([0, 1]);
    expect(ticks(20)).toEqual([0, 5, 10, 15, 20]);
    expect(ticks(5)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ticks(10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(250)).toEqual([0, 50, 100, 150, 200, 250]);
    for (const max of [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2500]) {
      expect(ticks(max).every(Number.isInteger)).toBe(true);
      expect(niceCeiling(max)).toBe(max);
    }
  });

  it("draws the members across the box", () => {
    const geometry = chartGeometry([day("2026-11-22", 0), day("2026-11-23", 5), day("2026-11-24", 10)], BOX);
    expect(geometry.yMax).toBe(10);
    expect(geometry.points.map((p) => [p.x, p.y])).toEqual([
      [10, 50],
      [50, 30],
      [90, 10],
    ]);
    expect(geometry.line).toBe("M10,50 L50,30 L90,10");
    expect(geometry.area).toBe("M10,50 L50,30 L90,10 L90,50 L10,50 Z");
    expect(geometry.yTicks[0]).toEqual({ value: 0, y: 50 });
  });

  it("copes with one day and with none", () => {
    expect(chartGeometry([day("2026-11-24", 3)], BOX).points[0]).toMatchObject({ x: 50 });
    expect(chartGeometry([], BOX)).toMatchObject({ line: "", area: "", points: [] });
  });

  it("sums up the period", () => {
    expect(summarize([day("a", 2, 2, 0), day("b", 3, 2, 1)])).toEqual({ first: 2, last: 3, entered: 4, exited: 1 });
    expect(summarize([])).toEqual({ first: 0, last: 0, entered: 0, exited: 0 });
    expect(shortDay("2026-11-24")).toMatch(/24/);
  });
});
