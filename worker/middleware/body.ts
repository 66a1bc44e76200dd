// Hono's bodyLimit, answering 413 over the limit and telling a body that could
// not be read (the client went away mid-upload) apart from our own failures:
// bodyLimit reads a body without Content-Length itself, before the route runs.
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../errors.ts";

export function limitBody(maxBytes: number): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `the body is over ${maxBytes} bytes`);
    },
  });
  return async (c, next) => {
    let reachedRoute = false;
    try {
      await limit(c, async () => {
        reachedRoute = true;
        await next();
      });
    } catch (error) {
      if (reachedRoute || error instanceof ApiError) throw error;
      console.log("the request body could not be read:", error);
      throw new ApiError(400, "request_aborted", "the request body could not be read");
    }
  };
}
