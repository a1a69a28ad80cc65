import { ApiError } from "../api/errors";

/**
 * Whether a failed read means "there is no such thing". A malformed id is refused as invalid
 * input (422); to a person, both that and 404 mean the address names nothing.
 */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 422);
}
