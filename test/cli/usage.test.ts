// --help states each flag's default from where the default is defined: the schema's .default(), or
// the command's `defaults` where a transform fills the value in. Help strings never carry it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { type Command, flagValue, usage } from "../../cli/args.ts";

/** A flag's row: the flag and its word, then the help from a column shared by every row. */
const ROW = /^ {2}--\S+(?: \S+)? +/;

/** The help column of the row for --name. */
const helpOf = (text: string, name: string) => {
  const row = text.split("\n").find((line) => line.startsWith(`  --${name} `));
  assert.ok(row, `no row for --${name} in\n${text}`);
  return row.replace(ROW, "");
};

test("usage shows the schema's defaults: strings, numbers, lists, booleans; none where there is none", () => {
  const command = {
    name: "npm run example --",
    summary: "an example",
    flags: {
      out: { value: "DIR", help: "where it goes" },
      count: { value: "N", help: "how many" },
      seeds: { value: "N,N,...", help: "seeds" },
      fast: { toggle: true, help: "go fast" },
      dry_run: { help: "plan only" },
      data_dir: { value: "DIR", help: "the data (searched)" },
    },
    schema: z.object({
      out: flagValue.path().default("runs/example"),
      count: flagValue.integer(1).default(2000),
      seeds: z.string().transform(Number).array().default([1, 2, 3]),
      fast: flagValue.toggle().default(true),
      dry_run: z.boolean().default(false),
      data_dir: flagValue.path().optional(),
    }),
  } satisfies Command<z.ZodType>;
  const text = usage(command);
  assert.equal(helpOf(text, "out"), "where it goes (default: runs/example)");
  assert.equal(helpOf(text, "count"), "how many (default: 2000)");
  assert.equal(helpOf(text, "seeds"), "seeds (default: 1,2,3)");
  assert.equal(helpOf(text, "fast"), "go fast (default: true)");
  assert.equal(helpOf(text, "dry_run"), "plan only");
  assert.equal(helpOf(text, "data_dir"), "the data (searched)");
  // The columns stay aligned: every help starts where the longest flag's does.
  const starts = text
    .split("\n")
    .filter((line) => line.startsWith("  --"))
    .map((line) => line.match(ROW)?.[0].length);
  assert.equal(new Set(starts).size, 1, text);
});

test("usage shows a command's own display defaults, and the schema's through a transform", () => {
  const command = {
    name: "npm run example --",
    summary: "an example",
    flags: {
      lr: { value: "X", help: "learning rate" },
      seed: { value: "N", help: "seed" },
      limit: { value: "N", help: "images (all)" },
    },
    schema: z
      .object({
        lr: flagValue.number(0).optional(),
        seed: flagValue.integer(0).default(7),
        limit: flagValue.integer(1).optional(),
      })
      .transform((given) => ({ ...given, lr: given.lr ?? 0.001 })),
    defaults: { lr: "0.001; fast: 0.01", limit: null },
  } satisfies Command<z.ZodType>;
  const text = usage(command);
  assert.equal(helpOf(text, "lr"), "learning rate (default: 0.001; fast: 0.01)");
  assert.equal(helpOf(text, "seed"), "seed (default: 7)");
  assert.equal(helpOf(text, "limit"), "images (all)");
});
