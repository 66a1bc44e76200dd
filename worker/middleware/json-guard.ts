// Bounds the shape of a JSON body before JSON.parse and the schema see it:
// parsing 4 MB of nested brackets took 0.6 s and 176 MiB, a 4 MB key is a 4 MB
// string, and a flat array of two million numbers is validated one by one.
// One scan over the bytes (no decoded copy) refuses all three.
import type { MiddlewareHandler } from "hono";
import { ApiError, readBody } from "../errors.ts";

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export interface JsonShape {
  maxDepth: number;
  /** Values in all arrays and objects together (commas + 1). */
  maxValues: number;
  /** Longest string, in bytes; the schema's keys are short and it has no string values. */
  maxStringBytes: number;
}

export function jsonGuard({ maxDepth, maxValues, maxStringBytes }: JsonShape): MiddlewareHandler {
  return async (c, next) => {
    if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) return next();
    const bytes = await readBody(c.req);
    let depth = 0;
    let values = 1;
    let stringStart = -1;
    for (let i = 0; i < bytes.length; i++) {
      const code = bytes[i];
      if (stringStart >= 0) {
        if (code === 0x5c)
          i++; // backslash: skip the escaped character
        else if (code === 0x22) stringStart = -1;
        else if (i - stringStart > maxStringBytes) throw outOfShape();
      } else if (code === 0x22) {
        stringStart = i;
      } else if (code === 0x5b || code === 0x7b) {
        if (++depth > maxDepth) throw outOfShape();
      } else if (code === 0x5d || code === 0x7d) {
        depth--;
      } else if (code === 0x2c && ++values > maxValues) {
        throw outOfShape();
      }
    }
    await next();
  };
}

const outOfShape = () =>
  new ApiError(
    400,
    "invalid_body",
    'expected {"pixels": [784 numbers]} or {"images": [{"pixels": [...]}, ...]}',
  );
