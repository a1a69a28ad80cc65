/** A profile's built-in fields, as the API names them (herald/models/profile.py has the same
 * lists): the profile form, the CSV import's column mapping and the segment builder share them. */

/** The identifiers: a profile is found by any of them, and needs at least one. */
export const IDENTIFIER_FIELDS = ["email", "phone", "external_id"] as const;
/** The other fields about the person. */
export const DESCRIPTIVE_FIELDS = ["first_name", "last_name", "timezone"] as const;
/** The location, sent as `location` and stored flat; latitude and longitude are numbers. */
export const LOCATION_TEXT_FIELDS = ["address1", "address2", "city", "region", "country", "zip"] as const;
export const LOCATION_NUMBER_FIELDS = ["latitude", "longitude"] as const;
export const LOCATION_FIELDS = [...LOCATION_TEXT_FIELDS, ...LOCATION_NUMBER_FIELDS] as const;
