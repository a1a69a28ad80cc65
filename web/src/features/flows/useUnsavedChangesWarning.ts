import { useEffect } from "react";

export const UNSAVED_MESSAGE = "This flow has changes that are not saved. Leave without saving them?";

/** Marks the history entry the warning adds on top of the page's own (see `guardBackButton`). */
const GUARD = "heraldUnsavedGuard";

function onGuardEntry(): boolean {
  const state: unknown = window.history.state;
  return typeof state === "object" && state !== null && GUARD in state;
}

function pushGuard(): void {
  const state: unknown = window.history.state;
  window.history.pushState({ ...(typeof state === "object" && state !== null ? state : {}), [GUARD]: true }, "", window.location.href);
}

/**
 * The browser's Back button: the dashboard's router is not a data router, so it cannot block a
 * pop. Instead the page stands on a second history entry of its own URL; Back first lands on
 * the page's own entry (the router sees the same page), the question is asked there, and staying
 * puts the guard entry back while leaving goes back once more. Returns the clean-up.
 */
function guardBackButton(): () => void {
  let leaving = false;
  if (!onGuardEntry()) pushGuard();
  const popstate = () => {
    if (leaving || onGuardEntry()) return;
    if (window.confirm(UNSAVED_MESSAGE)) {
      leaving = true;
      window.history.back();
    } else {
      pushGuard();
    }
  };
  window.addEventListener("popstate", popstate);
  return () => window.removeEventListener("popstate", popstate);
}

/**
 * While `dirty`, asks before the page is left: the browser's own question when the tab is closed
 * or reloaded, a confirm before a link inside the dashboard is followed, and a confirm when the
 * browser's Back button is pressed.
 */
export function useUnsavedChangesWarning(dirty: boolean): void {
  useEffect(() => {
    if (!dirty) return;
    const beforeUnload = (event: BeforeUnloadEvent) => {
      event.preventDefault();
    };
    // Capture on the document runs before React's own listener on its root, so a refused
    // navigation never reaches the router's <Link>.
    const click = (event: MouseEvent) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      const anchor = (event.target as Element | null)?.closest?.("a[href]");
      if (!(anchor instanceof HTMLAnchorElement) || anchor.target === "_blank") return;
      const url = new URL(anchor.href, window.location.href);
      if (url.origin !== window.location.origin || url.pathname === window.location.pathname) return;
      if (!window.confirm(UNSAVED_MESSAGE)) {
        event.preventDefault();
        event.stopPropagation();
      }
    };
    window.addEventListener("beforeunload", beforeUnload);
    document.addEventListener("click", click, true);
    const unguard = guardBackButton();
    return () => {
      unguard();
      window.removeEventListener("beforeunload", beforeUnload);
      document.removeEventListener("click", click, true);
    };
  }, [dirty]);
}
