// The one way every command reads its flags: node:util parseArgs for the syntax (snake_case
// flags like the reference's, `--flag value` or `--flag=value`), a zod schema for the values,
// `--help` generated from the same table, and one table of exit codes.
import { parseArgs } from "node:util";
import { z } from "zod";

/** Exit codes of every command (README, "Exit codes"). */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** A mistake in how the command was called: printed with the usage, exit 2. */
export class UsageError extends Error {}

/** The work was stopped (Ctrl-C, a stage interrupted): exit 130. */
export class InterruptedError extends Error {}

export interface Flag {
  /** What follows the flag in the help ("N", "DIR"); absent for an on/off flag. */
  value?: string;
  help: string;
  /** May be given more than once (the schema then sees an array). */
  multiple?: boolean;
  /**
   * An on/off flag that also takes a word, as the reference's flags do: `--resume`, `--resume true`,
   * `--cross_stitch_enabled false`, `--cross_stitch_enabled=0`. The schema sees the word
   * (flagValue.toggle() makes it a boolean).
   */
  toggle?: boolean;
}

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];

export interface Command<Schema extends z.ZodType> {
  /** How it is called, e.g. "npm run export --". */
  name: string;
  /** What comes after the flags in the usage line, e.g. "<image>..."; absent: no positionals. */
  positionals?: string;
  summary: string;
  /** Each help says what the flag does; its default is added by usage(), never written here. */
  flags: Record<string, Flag>;
  /**
   * Sees every flag by name (strings, booleans or arrays, undefined when absent) and `positionals`.
   * A `.default()` on a field of its object (also under a transform) is the default the help shows.
   */
  schema: Schema;
  /**
   * Defaults by flag name for flags the schema leaves optional because something else fills them in
   * (train's presets, in its transform): the help shows them as it shows the schema's own. Lists
   * are joined with ",", anything else printed as String() prints it.
   */
  defaults?: Record<string, unknown>;
}

/** The schema's `.default()` values by flag: the fields of its object, looked at through transforms. */
function schemaDefaults(schema: z.ZodType): Record<string, unknown> {
  let object: z.core.$ZodType = schema;
  while (object instanceof z.ZodPipe) object = object.in;
  if (!(object instanceof z.ZodObject)) return {};
  return Object.fromEntries(
    Object.entries(object.shape).flatMap(([name, field]) =>
      field instanceof z.ZodDefault ? [[name, field.def.defaultValue]] : [],
    ),
  );
}

const showDefault = (value: unknown) => (Array.isArray(value) ? value.join(",") : String(value));

export function usage(command: Command<z.ZodType>): string {
  const defaults = { ...schemaDefaults(command.schema), ...command.defaults };
  const rows = Object.entries(command.flags).map(([name, flag]) => {
    const value = defaults[name];
    // A switch without a word is off unless given, so "default: false" would tell nothing.
    const silent = value === undefined || value === null || (value === false && !flag.value && !flag.toggle);
    return [
      `--${name}${flag.toggle ? " [true|false]" : flag.value ? ` ${flag.value}` : ""}`,
      silent ? flag.help : `${flag.help} (default: ${showDefault(value)})`,
    ];
  });
  rows.push(["--help", "print this and exit"]);
  const width = Math.max(...rows.map(([left]) => (left ?? "").length));
  return [
    `usage: ${command.name} [flags]${command.positionals ? ` ${command.positionals}` : ""}`,
    command.summary,
    ...rows.map(([left, right]) => `  ${(left ?? "").padEnd(width)}  ${right}`),
  ].join("\n");
}

/** `--toggle word` as `--toggle=word`, a bare `--toggle` as `--toggle=true`, so parseArgs sees one string. */
function joinToggleWords(command: Command<z.ZodType>, argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") {
      joined.push(...argv.slice(i));
      break;
    }
    const name = token.startsWith("--") && !token.includes("=") ? token.slice(2) : null;
    if (name === null || !Object.hasOwn(command.flags, name) || !command.flags[name]?.toggle) {
      joined.push(token);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && [...TRUE_WORDS, ...FALSE_WORDS].includes(next.toLowerCase())) {
      joined.push(`${token}=${next}`);
      i++;
    } else {
      joined.push(`${token}=true`);
    }
  }
  return joined;
}

/** The checked values, or null after printing the help for `--help`. Throws UsageError. */
export function parseCommand<Schema extends z.ZodType>(
  command: Command<Schema>,
  argv: readonly string[],
): z.infer<Schema> | null {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: joinToggleWords(command, argv),
      strict: true,
      allowPositionals: command.positionals !== undefined,
      options: {
        ...Object.fromEntries(
          Object.entries(command.flags).map(([name, flag]) => [
            name,
            {
              type: flag.value || flag.toggle ? ("string" as const) : ("boolean" as const),
              multiple: flag.multiple ?? false,
            },
          ]),
        ),
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // parseArgs explains some mistakes over several lines; the first says what is wrong.
    throw new UsageError((error as Error).message.split("\n")[0]);
  }
  if (parsed.values.help) {
    console.log(usage(command));
    return null;
  }
  const result = command.schema.safeParse({ ...parsed.values, positionals: parsed.positionals });
  if (!result.success) {
    const issue = result.error.issues[0];
    const message = issue?.message ?? "invalid";
    if (issue === undefined || issue.path.length === 0) throw new UsageError(message);
    const field = String(issue.path[0]);
    const where = field === "positionals" ? (command.positionals ?? "arguments") : `--${field}`;
    throw new UsageError(`${where}: ${message}`);
  }
  return result.data;
}

/** For scripts that run at the top level: the values, or exit 0 after --help, 2 after a usage mistake. */
export function parseCommandOrExit<Schema extends z.ZodType>(
  command: Command<Schema>,
  argv: readonly string[],
): z.infer<Schema> {
  try {
    const values = parseCommand(command, argv);
    if (values === null) process.exit(EXIT.ok);
    return values;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${programName(command)}: ${error.message}\n${usage(command)}`);
    process.exit(EXIT.usage);
  }
}

/** For a script that takes no flags: `--help` prints its usage and exits 0, any flag is a usage error. */
export function acceptNoFlagsOrExit(name: string, summary: string, argv: readonly string[]): void {
  parseCommandOrExit({ name, summary, flags: {}, schema: z.object({}) }, argv);
}

const programName = (command: Command<z.ZodType>) =>
  command.name.replace(/^npm run (\S+).*$/, "$1").replace(/^tsx \S*?([^/\s]+)\.ts$/, "$1");

/** Value schemas for flags, which arrive as strings. */
export const flagValue = {
  integer: (min: number) =>
    z
      .string()
      .regex(/^-?\d+$/, "expected an integer")
      .transform(Number)
      .pipe(z.number().int().min(min, `expected an integer >= ${min}`)),
  number: (min: number) =>
    z
      .string()
      .trim()
      .min(1, "expected a number")
      .transform(Number)
      .pipe(z.number({ error: "expected a number" }).min(min, `expected a number >= ${min}`)),
  /** A number `rule` describes ("in [0, 1)") and `within` checks; `integer` refuses fractions. */
  numberWhere: (rule: string, within: (value: number) => boolean, integer = false) =>
    z.string().transform((text, context) => {
      const value = text.trim() === "" ? Number.NaN : Number(text);
      const problem = !Number.isFinite(value)
        ? `expected a number, got "${text}"`
        : integer && !Number.isInteger(value)
          ? `expected an integer, got "${text}"`
          : within(value)
            ? null
            : `must be ${rule}, got ${text}`;
      if (problem === null) return value;
      context.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }),
  /** The word of a Flag with `toggle`: true/1/yes or false/0/no, any case. */
  toggle: () =>
    z.string().transform((text, context) => {
      const word = text.toLowerCase();
      if (TRUE_WORDS.includes(word)) return true;
      if (FALSE_WORDS.includes(word)) return false;
      context.addIssue({ code: "custom", message: `expected true/false/1/0/yes/no, got "${text}"` });
      return z.NEVER;
    }),
  /** Required unless the schema adds .optional(). */
  path: () =>
    z
      .string({ error: (issue) => (issue.input === undefined ? "required" : "expected a path") })
      .min(1, "expected a path"),
};

/**
 * Runs a command's main and exits with the table's code: `main`'s own, 2 for a UsageError (with the
 * usage), 130 for an InterruptedError, 1 for any other error, printed as one line without a stack.
 */
export function runCommand(
  command: Command<z.ZodType>,
  /** Resolves to an exit code, or to anything else for 0. */
  main: () => unknown,
): void {
  const program = programName(command);
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = typeof code === "number" ? code : EXIT.ok;
      },
      (error: unknown) => {
        if (error instanceof UsageError) {
          console.error(`${program}: ${error.message}\n${usage(command)}`);
          process.exitCode = EXIT.usage;
        } else if (error instanceof InterruptedError) {
          console.error(`${program}: ${error.message}`);
          process.exitCode = EXIT.interrupted;
        } else {
          console.error(`${program}: ${error instanceof Error ? error.message : String(error)}`);
          process.exitCode = EXIT.failure;
        }
      },
    );
}
