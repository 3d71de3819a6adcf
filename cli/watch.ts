/**
 * `postino watch ADDRESS`: opens a "terminal" for a local user (RFC 821
 * SEND, SOML and SAML deliver to it) and prints each message as it comes:
 * a `from SENDER:` line, then the text. It talks to the running server
 * through the control socket `<data-dir>/postino.sock`; being able to open
 * that socket (mode 0600) is the authentication, and `--password-stdin`
 * also proves the user's password.
 *
 * Exit codes: 0 after SIGINT/SIGTERM or when the server goes away, 1 when
 * the server cannot be reached or refuses, 2 for bad usage.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CONTROL_SOCKET } from "../core/terminal/control_server.ts";
import { COMMON_OPTIONS, DEFAULT_DATA_DIR, type LineOutput } from "./subcommands.ts";

/** Usage of `postino watch`. */
export const WATCH_USAGE = `Usage: postino watch ADDRESS [--password-stdin] [--data-dir DIR]

Shows the messages sent to ADDRESS with SEND, SOML or SAML (needs the server's
--plugin terminal) until interrupted.

Options:
  --data-dir DIR     the running server's data directory (default ${DEFAULT_DATA_DIR})
  --password-stdin   also prove the user's password, read from the first line of stdin
  -h, --help         show this help`;

/** What `watch` needs from the outside world, so tests can fake it. */
export interface WatchIo extends LineOutput {
  /** Reads all of standard input. */
  readStdin(): Promise<string>;
  /** Calls `stop` when the user asks to stop (SIGINT, SIGTERM). */
  onStop(stop: () => void): void;
}

// The server already strips these; a watcher trusts nothing it prints.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0B-\x1F\x7F-\x9F]/g;

/** Formats one terminal message as the lines `watch` prints. */
export function formatTerminalMessage(json: string): string {
  let message: unknown;
  try {
    message = JSON.parse(json);
  } catch {
    message = undefined;
  }
  const { from, text } = (message ?? {}) as { from?: unknown; text?: unknown };
  if (typeof from !== "string" || typeof text !== "string") return "(unreadable message)";
  return `from ${from.replace(CONTROL, "")}:\n${text.replace(CONTROL, "")}`;
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * Runs `postino watch …` (`args` starts after `watch`).
 *
 * @returns The exit code: 0 stopped or server gone, 1 failed, 2 bad usage.
 *
 * @example
 * ```ts
 * // postino watch alice@example.org --data-dir /var/lib/postino
 * const code = await runWatchCommand(["alice@example.org", "--data-dir", dir], io);
 * ```
 */
export async function runWatchCommand(args: string[], io: WatchIo): Promise<number> {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, "password-stdin": { type: "boolean" } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    io.stderr(`postino watch: ${(error as Error).message.split("\n", 1)[0]}`);
    io.stderr(WATCH_USAGE);
    return 2;
  }
  if (values["help"] === true) {
    io.stdout(WATCH_USAGE);
    return 0;
  }
  const [address, ...extra] = positionals;
  if (address === undefined || extra.length > 0 || /\s/.test(address)) {
    io.stderr(`postino watch: ${address === undefined ? "missing" : "one"} ADDRESS expected`);
    io.stderr(WATCH_USAGE);
    return 2;
  }
  let request = `WATCH ${address}`;
  if (values["password-stdin"] === true) {
    const line = ((await io.readStdin()).split("\n", 1)[0] ?? "").replace(/\r$/, "");
    if (line === "") {
      io.stderr("postino watch: refusing an empty password");
      return 1;
    }
    request += ` ${Buffer.from(line, "utf8").toString("base64")}`;
  }
  const dataDir = String(values["data-dir"] ?? DEFAULT_DATA_DIR);
  const path = join(dataDir, CONTROL_SOCKET);
  let socket: Socket;
  try {
    socket = await open(path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    io.stderr(`postino watch: cannot reach the server at ${path} (${code})`);
    io.stderr(`postino watch: is "postino serve --data-dir ${dataDir}" running?`);
    return 1;
  }
  return await new Promise<number>((resolve) => {
    let buffer = "";
    let watching = false;
    let stopped = false;
    const finish = (code: number, message?: string) => {
      if (stopped) return;
      stopped = true;
      if (message) io.stderr(`postino watch: ${message}`);
      socket.destroy();
      resolve(code);
    };
    io.onStop(() => finish(0));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let end;
      while (!stopped && (end = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (watching) {
          io.stdout(formatTerminalMessage(line));
        } else if (line.startsWith("OK ")) {
          watching = true;
          io.stdout(line.slice(3).replace(CONTROL, ""));
        } else {
          const reason = line.startsWith("ERR ") ? line.slice(4) : `unexpected reply: ${line}`;
          finish(1, reason.replace(CONTROL, ""));
        }
      }
    });
    socket.on("error", () => {}); // "close" follows and decides
    socket.on("close", () => {
      if (watching) finish(0, "the server went away");
      else finish(1, "the server closed the connection");
    });
    socket.write(request + "\n");
  });
}
