// Bearer-token auth for /v1/*, on when the API_TOKEN secret is set.
import type { MiddlewareHandler } from "hono";
import { ApiError } from "../errors.ts";

/** Compares SHA-256 digests so the time taken does not depend on where the tokens differ. */
async function tokensMatch(given: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all(
    [given, expected].map(
      async (t) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(t))),
    ),
  );
  let difference = 0;
  for (let i = 0; i < 32; i++) difference |= (a?.[i] ?? 0) ^ (b?.[i] ?? 0);
  return difference === 0;
}

export const bearerAuth: MiddlewareHandler<{ Bindings: { API_TOKEN?: string } }> = async (c, next) => {
  const expected = c.env?.API_TOKEN;
  if (expected) {
    const given = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!given || !(await tokensMatch(given, expected))) {
      throw new ApiError(401, "unauthorized", "a valid bearer token is required", {
        "WWW-Authenticate": "Bearer",
      });
    }
  }
  await next();
};
