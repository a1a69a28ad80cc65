import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useCursorPages } from "./useCursorPages";

describe("useCursorPages", () => {
  it("goes forward and back through the cursors", () => {
    const { result } = renderHook(() => useCursorPages());
    expect(result.current.cursor).toBeUndefined();
    let pager = result.current.pager("c2", false);
    expect(pager).toMatchObject({ page: 1, hasPrevious: false, hasNext: true, busy: false });

    act(() => pager.onNext());
    expect(result.current.cursor).toBe("c2");
    pager = result.current.pager("c3", true);
    expect(pager).toMatchObject({ page: 2, hasPrevious: true, hasNext: true, busy: true });

    act(() => pager.onNext());
    expect(result.current.cursor).toBe("c3");
    expect(result.current.pager(null, false)).toMatchObject({ page: 3, hasNext: false });

    act(() => result.current.pager(null, false).onPrevious());
    expect(result.current.cursor).toBe("c2");
  });

  it("starts over on reset", () => {
    const { result } = renderHook(() => useCursorPages());
    act(() => result.current.pager("c2", false).onNext());
    act(() => result.current.reset());
    expect(result.current.cursor).toBeUndefined();
    expect(result.current.pager("c2", false).page).toBe(1);
  });

  it("starts over when the key changes", () => {
    const { result, rerender } = renderHook(({ key }) => useCursorPages(key), { initialProps: { key: "ada" } });
    act(() => result.current.pager("c2", false).onNext());
    expect(result.current.cursor).toBe("c2");
    rerender({ key: "grace" });
    expect(result.current.cursor).toBeUndefined();
    act(() => result.current.pager("g2", false).onNext());
    expect(result.current.cursor).toBe("g2");
    expect(result.current.pager(null, false).page).toBe(2);
  });
});
