/** The IANA time zone names this browser knows (Europe/Berlin, ...), for time zone pickers;
 * empty where the browser cannot list them (the field then takes any typed name). */
export function timeZones(): string[] {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
}
