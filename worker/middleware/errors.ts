// The one error handler and the 404/405 answer: `{"error": {"code", "message"}}`
// with a short fixed message; details (validation paths, loader and decoder
// text) only go to the log, and a 500 never says more than "internal error".
import type { Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError, type ErrorCode, errorBody } from "../errors.ts";

const FIXED_ANSWERS: Partial<Record<number, { code: ErrorCode; message: string }>> = {
  400: { code: "bad_request", message: "the request is malformed" },
  401: { code: "unauthorized", message: "a valid bearer token is required" },
  413: { code: "payload_too_large", message: "the body is too large" },
  415: { code: "unsupported_media_type", message: "this content type is not accepted" },
};

// biome-ignore lint/suspicious/noExplicitAny: the handler serves apps of any bindings
type AnyApp = Hono<any, any, any>;

export function answerNotFound(app: AnyApp) {
  return (c: Context): never => {
    // A route's middleware and validators are listed as routes too: count each method once.
    const allowed = [
      ...new Set(
        app.routes
          .filter((route) => route.method !== "ALL" && route.path === c.req.path)
          .map((r) => r.method),
      ),
    ];
    if (allowed.length > 0) {
      throw new ApiError(405, "method_not_allowed", `use ${allowed.join(", ")}`, {
        Allow: allowed.join(", "),
      });
    }
    throw new ApiError(404, "not_found", "nothing here");
  };
}

export function answerError(error: Error, c: Context): Response {
  if (error instanceof ApiError) {
    for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
    return c.json(errorBody(error.code, error.message), error.status);
  }
  if (c.req.raw.signal?.aborted) {
    // The client went away mid-request: nobody reads this answer and nothing failed here.
    console.log(`client closed the request to ${c.req.path}`);
    return c.json(errorBody("request_aborted", "the client closed the request"), 400);
  }
  if (error instanceof HTTPException && error.status < 500) {
    const status = error.status as ContentfulStatusCode;
    console.log(`${status} on ${c.req.path}: ${error.message}`);
    const answer = FIXED_ANSWERS[status] ?? {
      code: "bad_request" as const,
      message: "the request is malformed",
    };
    return c.json(errorBody(answer.code, answer.message), status);
  }
  console.error("unhandled error:", error);
  return c.json(errorBody("internal_error", "internal error"), 500);
}
