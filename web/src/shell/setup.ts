/** True when message links (HERALD_BASE_URL) lead somewhere other than the dashboard's own origin:
 * another scheme, host or port. A base URL with a path prefix still counts as the same place. */
export function linksPointElsewhere(linksBaseUrl: string, dashboardOrigin: string): boolean {
  try {
    return new URL(linksBaseUrl).origin !== new URL(dashboardOrigin).origin;
  } catch {
    return true; // an unparsable base URL cannot be right
  }
}
