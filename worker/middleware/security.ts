// Security headers on every answer (Hono's secureHeaders). The page's one
// inline script and style carry a per-response nonce; nothing else runs, it may
// not be framed, and it sends no referrer.
import { NONCE, secureHeaders } from "hono/secure-headers";

export const securityHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: [NONCE],
    styleSrc: [NONCE],
    imgSrc: ["'self'", "blob:", "data:"],
    connectSrc: ["'self'"],
    formAction: ["'none'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: "DENY",
  xContentTypeOptions: "nosniff",
  referrerPolicy: "no-referrer",
  crossOriginResourcePolicy: false,
  crossOriginOpenerPolicy: "same-origin",
});
