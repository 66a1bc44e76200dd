// OpenAPI schemas shared by the routes.
import { z } from "@hono/zod-openapi";

export const errorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("Error", {
    example: { error: { code: "wrong_pixel_count", message: "pixels must hold 784 values" } },
  });

export const errorContent = (description: string) => ({
  description,
  content: { "application/json": { schema: errorSchema } },
});
