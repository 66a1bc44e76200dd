// CORS for the origins in CORS_ORIGINS (`*`, a comma-separated list, or none).
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

export const corsFromEnv: MiddlewareHandler<{ Bindings: { CORS_ORIGINS?: string } }> = async (c, next) => {
  const origins = (c.env?.CORS_ORIGINS ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
  if (origins.length === 0) return next();
  return cors({
    origin: origins.includes("*") ? "*" : origins,
    allowMethods: ["GET", "POST", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type"],
    exposeHeaders: ["Server-Timing"],
    maxAge: 86400,
  })(c, next);
};
