/**
 * The shared front half of the `user`, `alias` and `queue` commands: pick
 * the subcommand, parse its options with `node:util` `parseArgs`, check
 * arity and required options, and turn every usage error into exit code 2.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Option declarations, as `parseArgs` takes them. */
export type Options = NonNullable<ParseArgsConfig["options"]>;
/** Parsed option values. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Where the data directory is unless `--data-dir` says otherwise. */
export const DEFAULT_DATA_DIR = "./data";

/** Options every subcommand takes. */
export const COMMON_OPTIONS: Options = {
  "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
  help: { type: "boolean", short: "h" },
};

/** What the parser needs to know about one subcommand. */
export interface SubcommandSpec {
  readonly usage: string;
  readonly options?: Options;
  readonly args: readonly [min: number, max: number];
  /** Options that must be given. */
  readonly requires?: readonly string[];
}

/** Line output. */
export interface LineOutput {
  stdout(line: string): void;
  stderr(line: string): void;
}

/** Prints a group's usage; `footer` adds a last line. */
export function printGroupUsage(
  commands: Readonly<Record<string, SubcommandSpec>>,
  out: (line: string) => void,
  footer: string,
): void {
  out("Usage:");
  for (const command of Object.values(commands)) out(`  postino ${command.usage}`);
  out("Options:");
  out(`  --data-dir DIR   where postino.db lives (default ${DEFAULT_DATA_DIR})`);
  out("  -h, --help       show this help");
  out(footer);
}

/** Either an exit code (help or a usage error was printed) or a subcommand to run. */
export type Parsed<C> = { code: number } | {
  name: string;
  command: C;
  values: Values;
  positionals: string[];
  dataDir: string;
};

/**
 * Parses `argv` (starting at the subcommand) for `postino GROUP`.
 *
 * @example
 * ```ts
 * const parsed = parseSubcommand("queue", COMMANDS, ["hold", "ID"], io, "…");
 * if ("code" in parsed) return parsed.code;
 * ```
 */
export function parseSubcommand<C extends SubcommandSpec>(
  group: string,
  commands: Readonly<Record<string, C>>,
  argv: string[],
  io: LineOutput,
  footer: string,
): Parsed<C> {
  const [name, ...rest] = argv;
  const usageError = (message: string, command?: C) => {
    io.stderr(`postino ${group}: ${message}`);
    if (command) io.stderr(`Usage: postino ${command.usage}`);
    else printGroupUsage(commands, io.stderr, footer);
    return { code: 2 };
  };
  if (name === "-h" || name === "--help" || name === "help") {
    printGroupUsage(commands, io.stdout, footer);
    return { code: 0 };
  }
  if (name === undefined) return usageError("missing subcommand");
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) return usageError(`unknown subcommand: ${name}`);
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    // parseArgs throws only for unknown or malformed options (ERR_PARSE_ARGS_*).
    const message = error instanceof Error ? error.message : String(error);
    return usageError(message.split("\n", 1)[0] ?? message, command);
  }
  const { values, positionals } = parsed;
  if (values["help"] === true) {
    io.stdout(`Usage: postino ${command.usage}`);
    return { code: 0 };
  }
  const [min, max] = command.args;
  if (positionals.length < min) return usageError("missing argument", command);
  if (positionals.length > max) return usageError("too many arguments", command);
  for (const option of command.requires ?? []) {
    if (values[option] === undefined) return usageError(`--${option} is required`, command);
  }
  return {
    name,
    command,
    values,
    positionals,
    dataDir: String(values["data-dir"] ?? DEFAULT_DATA_DIR),
  };
}
