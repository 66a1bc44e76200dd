// Every failure the API reports travels as an ApiError, so the one onError
// handler can turn it into `{"error": {"code", "message"}}` with its status.
// Messages are short fixed texts: what went wrong in detail goes to the log.
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ErrorCode =
  | "bad_request"
  | "invalid_body"
  | "wrong_pixel_count"
  | "pixel_out_of_range"
  | "undecodable_image"
  | "payload_too_large"
  | "image_too_large"
  | "unsupported_media_type"
  | "unauthorized"
  | "not_found"
  | "method_not_allowed"
  | "model_unavailable"
  | "too_many_images"
  | "request_too_large"
  | "image_too_complex"
  | "decode_time_exceeded"
  | "request_aborted"
  | "internal_error";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    /** Headers the response carries with the error (Retry-After, Allow, WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export const errorBody = (code: ErrorCode, message: string): ErrorBody => ({ error: { code, message } });

/**
 * The request body's bytes. A body that cannot be read means the client went
 * away (or broke the stream): a 400 logged as such, not a 500 of ours.
 */
export async function readBody(request: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<Uint8Array> {
  try {
    return new Uint8Array(await request.arrayBuffer());
  } catch (error) {
    if (error instanceof ApiError) throw error;
    console.log("the request body could not be read:", error);
    throw new ApiError(400, "request_aborted", "the request body could not be read");
  }
}
