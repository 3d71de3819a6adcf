/**
 * The `postino user …` and `postino alias …` commands: manage the directory
 * from the shell. They write straight to the database, and a running server
 * sees the change on its next lookup.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Options, parseSubcommand, type SubcommandSpec, type Values } from "./subcommands.ts";
import type { Runtime } from "../core/runtime/runtime.ts";
import { normalizeAddress } from "../core/store/address.ts";
import { Directory } from "../core/store/directory.ts";

/** What the commands need from the outside world, so tests can fake it. */
export interface CliIo {
  /** Writes one line to standard output. */
  stdout(line: string): void;
  /** Writes one line to standard error. */
  stderr(line: string): void;
  /** Reads all of standard input. */
  readStdin(): Promise<string>;
  /** Opens the directory kept under `dataDir`. */
  openDirectory(dataDir: string): Promise<Directory>;
}

/**
 * Opens the directory in `<dataDir>/postino.db`, creating the directory and
 * the database if needed: the production {@linkcode CliIo.openDirectory}.
 *
 * @param runtime The runtime whose SQLite driver to use.
 * @param dataDir The data directory, for example `./data`.
 */
export async function openDirectoryAt(runtime: Runtime, dataDir: string): Promise<Directory> {
  await mkdir(dataDir, { recursive: true });
  return new Directory(runtime.openDatabase(join(dataDir, "postino.db")));
}

interface Context {
  readonly args: string[];
  readonly values: Values;
  readonly io: CliIo;
  directory(): Promise<Directory>;
}

/** One subcommand: its usage line, extra options, arity and action. */
interface Subcommand extends SubcommandSpec {
  /** Returns an exit code, or a message for a failure (exit code 1). */
  run(context: Context): Promise<number | string>;
}

const PASSWORD_STDIN: Options = { "password-stdin": { type: "boolean" } };

/** The first line of stdin, without its line ending. */
async function readPassword(io: CliIo): Promise<string> {
  const line = (await io.readStdin()).split("\n", 1)[0] ?? "";
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

const USER_COMMANDS: Record<string, Subcommand> = {
  add: {
    usage: "user add ADDRESS [--password-stdin] [--name NAME] [--data-dir DIR]",
    options: { ...PASSWORD_STDIN, name: { type: "string" } },
    args: [1, 1],
    async run({ args: [address = ""], values, io, directory }) {
      const name = typeof values["name"] === "string" ? values["name"] : undefined;
      let password: string | undefined;
      if (values["password-stdin"] === true) {
        password = await readPassword(io);
        if (password === "") return "refusing an empty password";
      }
      await (await directory()).addUser(address, {
        ...(password === undefined ? {} : { password }),
        ...(name === undefined ? {} : { name }),
      });
      io.stdout(`added user ${normalizeAddress(address)}`);
      return 0;
    },
  },
  list: {
    usage: "user list [--data-dir DIR]",
    args: [0, 0],
    async run({ io, directory }) {
      for (const user of (await directory()).listUsers()) {
        const name = user.name === undefined ? "" : ` (${user.name})`;
        io.stdout(`${user.address}${name}${user.hasPassword ? "" : " [no password]"}`);
      }
      return 0;
    },
  },
  remove: {
    usage: "user remove ADDRESS [--data-dir DIR]",
    args: [1, 1],
    async run({ args: [address = ""], io, directory }) {
      if (!(await directory()).removeUser(address)) return `no such user: ${address}`;
      io.stdout(`removed user ${normalizeAddress(address)}`);
      return 0;
    },
  },
  grant: {
    usage: "user grant ADDRESS DOMAIN [--data-dir DIR]",
    args: [2, 2],
    // ATRN (RFC 2645): the user may collect DOMAIN's mail, besides their own domain's.
    async run({ args: [address = "", domain = ""], io, directory }) {
      (await directory()).grant(address, domain);
      io.stdout(`${normalizeAddress(address)} may collect ${domain.trim().toLowerCase()}`);
      return 0;
    },
  },
  revoke: {
    usage: "user revoke ADDRESS DOMAIN [--data-dir DIR]",
    args: [2, 2],
    async run({ args: [address = "", domain = ""], io, directory }) {
      if (!(await directory()).revoke(address, domain)) return `no such grant: ${domain}`;
      io.stdout(
        `${normalizeAddress(address)} may no longer collect ${domain.trim().toLowerCase()}`,
      );
      return 0;
    },
  },
  grants: {
    usage: "user grants [ADDRESS] [--data-dir DIR]",
    args: [0, 1],
    async run({ args: [address], io, directory }) {
      const dir = await directory();
      const grants = address === undefined
        ? dir.listGrants()
        : dir.grantedDomains(address).map((domain) => ({
          address: normalizeAddress(address),
          domain,
        }));
      for (const grant of grants) io.stdout(`${grant.address} ${grant.domain}`);
      return 0;
    },
  },
  passwd: {
    usage: "user passwd ADDRESS --password-stdin [--data-dir DIR]",
    options: PASSWORD_STDIN,
    args: [1, 1],
    // There is no terminal prompt: the password only ever comes from stdin.
    requires: ["password-stdin"],
    async run({ args: [address = ""], io, directory }) {
      const password = await readPassword(io);
      if (password === "") return "refusing an empty password";
      await (await directory()).setPassword(address, password);
      io.stdout(`changed password of ${normalizeAddress(address)}`);
      return 0;
    },
  },
};

const ALIAS_COMMANDS: Record<string, Subcommand> = {
  add: {
    usage: "alias add ADDRESS MEMBER... [--private] [--data-dir DIR]",
    // --private marks the list private: EXPN refuses to show its members.
    options: { private: { type: "boolean" } },
    args: [2, Infinity],
    async run({ args: [address = "", ...members], values, io, directory }) {
      const dir = await directory();
      dir.addAlias(address, members, values["private"] === true ? { private: true } : {});
      const mark = values["private"] === true ? " [private]" : "";
      io.stdout(`${normalizeAddress(address)} -> ${dir.getAlias(address)?.join(", ")}${mark}`);
      return 0;
    },
  },
  private: {
    usage: "alias private ADDRESS on|off [--data-dir DIR]",
    args: [2, 2],
    async run({ args: [address = "", setting = ""], io, directory }) {
      if (setting !== "on" && setting !== "off") return `expected on or off, got "${setting}"`;
      const key = normalizeAddress(address);
      if (!(await directory()).setAliasPrivate(key, setting === "on")) {
        return `no such alias: ${key}`;
      }
      io.stdout(`${key} is ${setting === "on" ? "private" : "public"}`);
      return 0;
    },
  },
  list: {
    usage: "alias list [--data-dir DIR]",
    args: [0, 0],
    async run({ io, directory }) {
      const dir = await directory();
      for (const alias of dir.listAliases()) {
        const entry = dir.getEntry(alias.address);
        const mark = entry?.kind === "alias" && entry.private ? " [private]" : "";
        io.stdout(`${alias.address} -> ${alias.members.join(", ")}${mark}`);
      }
      return 0;
    },
  },
  remove: {
    usage: "alias remove ADDRESS [MEMBER...] [--data-dir DIR]",
    args: [1, Infinity],
    async run({ args: [address = "", ...members], io, directory }) {
      const key = normalizeAddress(address);
      if (!(await directory()).removeAlias(address, members)) {
        return members.length === 0 ? `no such alias: ${key}` : `no such member of ${key}`;
      }
      io.stdout(members.length === 0 ? `removed alias ${key}` : `removed members from ${key}`);
      return 0;
    },
  },
};

/** Runs one of `commands`; every failure ends up as an exit code here. */
async function runGroup(
  group: string,
  commands: Record<string, Subcommand>,
  argv: string[],
  io: CliIo,
): Promise<number> {
  const parsed = parseSubcommand(
    group,
    commands,
    argv,
    io,
    `See 'postino ${group} SUBCOMMAND --help'.`,
  );
  if ("code" in parsed) return parsed.code;
  const { name, command, values, positionals, dataDir } = parsed;
  try {
    const result = await command.run({
      args: positionals,
      values,
      io,
      directory: () => io.openDirectory(dataDir),
    });
    if (typeof result === "number") return result;
    io.stderr(`postino ${group} ${name}: ${result}`);
    return 1;
  } catch (error) {
    // The directory reports bad input and conflicts as TypeError.
    if (!(error instanceof TypeError)) throw error;
    io.stderr(`postino ${group} ${name}: ${error.message}`);
    return 1;
  }
}

/**
 * Runs `postino user SUBCOMMAND …` (`args` starts at the subcommand): `add`,
 * `list`, `remove`, `passwd`, and `grant`, `revoke` and `grants` (domains a
 * user may collect with ATRN, RFC 2645).
 *
 * @param args The arguments after `user`, e.g. `["add", "a@example.com"]`.
 * @param io Output, stdin and access to the directory.
 * @returns The exit code: 0 done, 1 failed, 2 bad usage.
 *
 * @example
 * ```ts
 * // echo 's3cret' | postino user add alice@example.com --password-stdin
 * const code = await runUserCommand(["add", "alice@example.com", "--password-stdin"], io);
 * ```
 */
export async function runUserCommand(args: string[], io: CliIo): Promise<number> {
  return await runGroup("user", USER_COMMANDS, args, io);
}

/**
 * Runs `postino alias SUBCOMMAND …` (`args` starts at the subcommand): `add`
 * (with `--private`), `list`, `remove` and `private` (mark a list private, so
 * EXPN refuses it, or public again).
 *
 * @param args The arguments after `alias`, e.g. `["list"]`.
 * @param io Output, stdin and access to the directory.
 * @returns The exit code: 0 done, 1 failed, 2 bad usage.
 */
export async function runAliasCommand(args: string[], io: CliIo): Promise<number> {
  return await runGroup("alias", ALIAS_COMMANDS, args, io);
}
