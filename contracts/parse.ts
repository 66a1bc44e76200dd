// One way to check a file's value against its schema: the first offending field, named.
import type { z } from "zod";

/** `value` as `schema` says, or `fail` called with "<field path>: <what is wrong>". */
export function parseOrFail<T>(schema: z.ZodType<T>, value: unknown, fail: (problem: string) => Error): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw fail(`${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
}
