/**
 * `postino admin token`: creates the admin HTTP token in the data dir if
 * there is none, and prints it on its last line (so `| tail -n 1` works).
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ensureAdminToken, TOKEN_FILE } from "../core/http/token.ts";
import { type LineOutput, parseSubcommand, type SubcommandSpec } from "./subcommands.ts";

const COMMANDS: Readonly<Record<string, SubcommandSpec>> = {
  token: { usage: "admin token [--data-dir DIR]", args: [0, 0] },
};

const FOOTER = "The token opens the admin API (Authorization: Bearer TOKEN) and the web UI.";

/** Runs `postino admin …`; returns the exit code. */
export function runAdminCommand(argv: string[], io: LineOutput): number {
  const parsed = parseSubcommand("admin", COMMANDS, argv, io, FOOTER);
  if ("code" in parsed) return parsed.code;
  mkdirSync(parsed.dataDir, { recursive: true });
  const { token, created } = ensureAdminToken(parsed.dataDir);
  const path = join(parsed.dataDir, TOKEN_FILE);
  io.stdout(created ? `created ${path} (mode 0600)` : `token from ${path}`);
  io.stdout(token);
  return 0;
}
