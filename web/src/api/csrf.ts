/** The CSRF token: Herald sets it as the readable `herald_csrf` cookie at sign-in, and also
 * returns it from POST /api/auth/login and GET /api/me. Unsafe requests echo it in X-CSRF-Token. */

export const CSRF_COOKIE = "herald_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

let remembered: string | null = null;

export function rememberCsrfToken(token: string | null | undefined): void {
  remembered = token ?? null;
}

export function readCookie(name: string, cookies: string): string | null {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) {
      const value = rest.join("=");
      try {
        return decodeURIComponent(value) || null;
      } catch {
        return value || null;
      }
    }
  }
  return null;
}

export function currentCsrfToken(cookies: string = document.cookie): string | null {
  return readCookie(CSRF_COOKIE, cookies) ?? remembered;
}

export function needsCsrf(method: string): boolean {
  return UNSAFE_METHODS.has(method.toUpperCase());
}
