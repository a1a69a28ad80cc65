/** Where to go after signing in: only a path on this site, never another origin. */
export function safeNextPath(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) {
    return "/profiles";
  }
  if (next.startsWith("/sign-in")) return "/profiles";
  return next;
}
