// multipart/form-data read as bytes. FormData parsers turn a part without a
// filename into a string, which would garble an image sent that way (curl's
// `-F image=<photo.jpg`); here every part of the field keeps its bytes.
import { ApiError } from "./errors.ts";

/** Header block of one part, at most. */
const MAX_PART_HEADER_BYTES = 4096;

const malformed = () => new ApiError(400, "bad_request", "the multipart body is malformed");

function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw malformed();
  return boundary;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  for (let at = haystack.indexOf(first ?? 0, from); at >= 0; at = haystack.indexOf(first ?? 0, at + 1)) {
    if (at + needle.length > haystack.length) return -1;
    let k = 1;
    while (k < needle.length && haystack[at + k] === needle[k]) k++;
    if (k === needle.length) return at;
  }
  return -1;
}

/** The bytes of every part named `field`, in order; at most `maxParts` of them. */
export function multipartField(
  body: Uint8Array,
  contentType: string,
  field: string,
  maxParts: number,
): Uint8Array[] {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const delimiter = encoder.encode(`--${boundaryOf(contentType)}`);
  const nextDelimiter = encoder.encode(`\r\n--${boundaryOf(contentType)}`);
  const headerEnd = encoder.encode("\r\n\r\n");
  const parts: Uint8Array[] = [];
  let at = indexOf(body, delimiter, 0);
  if (at < 0) throw malformed();
  at += delimiter.length;
  for (;;) {
    // After a delimiter: "--" closes the body, CRLF opens a part.
    if (body[at] === 0x2d && body[at + 1] === 0x2d) break;
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a) throw malformed();
    const headersStart = at + 2;
    const headersEnd = indexOf(body, headerEnd, headersStart);
    if (headersEnd < 0 || headersEnd - headersStart > MAX_PART_HEADER_BYTES) throw malformed();
    const headers = decoder.decode(body.subarray(headersStart, headersEnd));
    const contentStart = headersEnd + headerEnd.length;
    const contentEnd = indexOf(body, nextDelimiter, contentStart);
    if (contentEnd < 0) throw malformed();
    const name = /^content-disposition:\s*form-data;(?:.*;)?\s*name="([^"]*)"/im.exec(headers)?.[1];
    if (name === field) {
      if (parts.length === maxParts) {
        throw new ApiError(413, "too_many_images", `a request may hold at most ${maxParts} images`);
      }
      parts.push(body.subarray(contentStart, contentEnd));
    }
    at = contentEnd + nextDelimiter.length;
  }
  return parts;
}
