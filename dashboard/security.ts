/**
 * Request checks of the dashboard (Hono middleware), so that other web pages the user visits cannot steer or
 * read a training run:
 *
 * - **Host**: on a loopback binding only `localhost`, `127.x.x.x` and `[::1]` are accepted as the Host header's
 *   name (421 otherwise), which defeats DNS rebinding (a page at `evil.example` resolving to 127.0.0.1 sends
 *   `Host: evil.example`). A server bound elsewhere accepts any Host, but then always has a token.
 * - **Cross-origin**: every `/api/` request with an `Origin` other than the server's own, or a
 *   `Sec-Fetch-Site` other than `same-origin` / `none` (a typed URL), is refused (403). Browsers send these
 *   headers on cross-site fetches, form posts, images and links; tools such as curl send neither.
 * - **Content type**: POSTs must be `application/json` (415), so a cross-site "simple" request (text/plain
 *   form or fetch without a preflight) never reaches a handler.
 * - **Token** (when the server has one): every route except the page, its script and its stylesheet needs it,
 *   as `Authorization: Bearer TOKEN` or the `npga_token` cookie. Opening `/?token=TOKEN` (the printed URL) sets
 *   the cookie (HttpOnly, SameSite=Strict) and redirects to `/`, so the token leaves the address bar and never
 *   appears in links. Tokens are compared in constant time.
 */
import type { Context, Next } from "hono";
import { isLoopbackName } from "./hosts.ts";

/** The cookie that carries the token after the page was opened with `?token=`. */
export const TOKEN_COOKIE = "npga_token";

/** A refused request: status and one message saying why and what to do. */
export class SecurityError extends Error {
  constructor(readonly status: 401 | 403 | 415 | 421, message: string) {
    super(message);
  }
}

/** Whether two strings are equal, in time that depends only on their lengths (not on where they differ). */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** Options of the checks. */
export interface SecurityOptions {
  /** The server's token, or null (loopback without a token). */
  token: string | null;
  /** Whether the server is bound to a loopback address (then the Host must be a loopback name). */
  loopback: boolean;
}

/** The Host header's name without the port (`[::1]:8000` -> `[::1]`). */
function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const i = host.lastIndexOf(":");
  return i >= 0 ? host.slice(0, i) : host;
}

/** Refuses requests with an unexpected Host header (every route). */
export function hostCheck(o: SecurityOptions) {
  return async (c: Context, next: Next) => {
    if (o.loopback) {
      const host = c.req.header("host") ?? "";
      if (!isLoopbackName(hostName(host))) {
        throw new SecurityError(
          421,
          `unexpected Host '${host}': open the dashboard as http://127.0.0.1:PORT or http://localhost:PORT`,
        );
      }
    }
    await next();
  };
}

/** Refuses cross-origin requests and non-JSON POSTs (the `/api/` routes). */
export function sameOriginCheck() {
  return async (c: Context, next: Next) => {
    const site = c.req.header("sec-fetch-site");
    if (site !== undefined && site !== "same-origin" && site !== "none") {
      throw new SecurityError(403, `cross-site request refused (Sec-Fetch-Site: ${site})`);
    }
    const origin = c.req.header("origin");
    if (origin !== undefined) {
      const own = `${new URL(c.req.url).protocol}//${c.req.header("host") ?? ""}`;
      if (origin !== own) throw new SecurityError(403, `cross-origin request refused (Origin: ${origin})`);
    }
    if (c.req.method === "POST") {
      const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (type !== "application/json") {
        throw new SecurityError(415, "POST bodies must be JSON (content-type: application/json)");
      }
    }
    await next();
  };
}

/** The token a request carries (bearer header first, then the cookie), or undefined. */
export function requestToken(c: Context): string | undefined {
  const auth = c.req.header("authorization");
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  return cookieValue(c.req.header("cookie"), TOKEN_COOKIE);
}

/** Requires the token (when there is one). */
export function tokenCheck(o: SecurityOptions) {
  return async (c: Context, next: Next) => {
    if (o.token) {
      const given = requestToken(c);
      if (given === undefined || !constantTimeEqual(given, o.token)) {
        throw new SecurityError(
          401,
          "this dashboard needs the token printed in the terminal: open the printed URL once (it sets a " +
            "cookie), or send 'Authorization: Bearer TOKEN'",
        );
      }
    }
    await next();
  };
}

/** The Set-Cookie value that stores `token` for this origin. */
export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
}
