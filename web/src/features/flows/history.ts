/** Undo and redo for the builder: the document's past and future states. A change may name a
 * `group` (the input it came from): changes of one group less than a second apart (typing) are
 * undone together. */

export const HISTORY_LIMIT = 100;
export const COALESCE_MS = 1000;

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  /** The group of the change that made `present`, if any, and when it was made. */
  group: string | null;
  at: number;
}

export function startHistory<T>(present: T): History<T> {
  return { past: [], present, future: [], group: null, at: 0 };
}

/** After a change to `next` at `now` (ms). Redo is no longer possible. */
export function record<T>(history: History<T>, next: T, group: string | null = null, now: number = Date.now()): History<T> {
  if (next === history.present) return history;
  if (group !== null && group === history.group && now - history.at < COALESCE_MS) {
    return { ...history, present: next, future: [], at: now };
  }
  const past = [...history.past, history.present].slice(-HISTORY_LIMIT);
  return { past, present: next, future: [], group, at: now };
}

export function undo<T>(history: History<T>): History<T> {
  const previous = history.past[history.past.length - 1];
  if (previous === undefined) return history;
  return { ...history, past: history.past.slice(0, -1), present: previous, future: [history.present, ...history.future], group: null };
}

export function redo<T>(history: History<T>): History<T> {
  const [next, ...future] = history.future;
  if (next === undefined) return history;
  return { ...history, past: [...history.past, history.present], present: next, future, group: null };
}
