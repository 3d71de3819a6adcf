/**
 * The local control socket, `<data-dir>/postino.sock`: how `postino watch`
 * finds the running server and opens a terminal. The socket file is mode
 * 0600, so reaching it at all proves local access as the server's user;
 * that is the authentication. A client may also send the user's password,
 * which is then checked and must be right.
 *
 * The protocol is one line each way, then messages:
 *
 * ```
 * C: WATCH alice@example.org [base64(password)]
 * S: OK watching alice@example.org          (or: ERR <reason>, then close)
 * S: {"from":"bob@example.org","text":"lunch?"}   (one JSON line per message)
 * ```
 *
 * A watcher that stops reading is dropped once 1 MiB waits for it, so it
 * cannot make the server buffer without bound.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { connect, createServer, type Server, type Socket } from "node:net";
import { chmod, mkdtemp, rename, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "../log.ts";
import { normalizeAddress } from "../store/address.ts";
import type { TerminalHub } from "./hub.ts";

/** The socket's file name inside the data directory. */
export const CONTROL_SOCKET = "postino.sock";

/** The longest request line, CRLF included (an address plus a base64 password). */
const MAX_REQUEST = 4096;
/** How long a client may take to send its request. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bytes waiting for a slow watcher before it is dropped. */
const MAX_BACKLOG = 1 << 20;
/** Open control connections at most. */
const MAX_CLIENTS = 256;

/** Options for {@linkcode startControlServer}. */
export interface ControlServerOptions {
  /** The socket path, normally `<data-dir>/postino.sock`. */
  path: string;
  hub: TerminalHub;
  /** Whether `address` is a local user (only users have terminals). */
  isUser(address: string): boolean;
  /** Checks a password given with WATCH. */
  verifyPassword(address: string, password: string): Promise<boolean>;
  /** Whether terminals are in use now (the `terminal` plugin is loaded). */
  enabled?(): boolean;
  log: Logger;
}

/** A listening control socket. */
export interface ControlServer {
  readonly path: string;
  /** Whether this process owns the socket (false when another server does). */
  readonly listening: boolean;
  /** Ends every watcher, stops listening and removes the socket file. */
  close(): Promise<void>;
}

/** Whether a server answers on `path` (a leftover file from a crash does not). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Parses `WATCH <address> [base64 password]`; `undefined` when malformed. */
export function parseWatch(line: string): { address: string; password?: string } | undefined {
  const match = /^WATCH (\S+)(?: (\S+))?$/i.exec(line);
  if (!match) return undefined;
  const address = normalizeAddress(match[1] as string);
  if (match[2] === undefined) return { address };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(match[2]) || match[2].length % 4 !== 0) return undefined;
  return { address, password: new TextDecoder().decode(Buffer.from(match[2], "base64")) };
}

/**
 * Listens on the control socket. A stale socket file is replaced; a live
 * one (another server on the same data directory) is left alone and logged.
 *
 * @example
 * ```ts
 * const control = await startControlServer({ path: join(dataDir, CONTROL_SOCKET), hub, ... });
 * // at shutdown:
 * await control.close();
 * ```
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { path, log } = options;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    if (sockets.size >= MAX_CLIENTS) {
      socket.end("ERR too many watchers\n");
      return;
    }
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    serve(socket, options);
  });
  if (await answers(path)) {
    log.event("control_busy", { path, message: "another server answers on this socket" });
    return { path, listening: false, close: () => Promise.resolve() };
  }
  let ino: number;
  try {
    await rm(path, { force: true });
    // Listen in a private directory and move the socket into place, so it is
    // never reachable with the umask's wider mode, not even for a moment.
    // (Short names: a socket path has a limit of about 104 bytes.)
    const dir = await mkdtemp(join(dirname(path), ".sock-"));
    const temporary = join(dir, "s");
    try {
      await listen(server, temporary);
      await chmod(temporary, 0o600);
      await rename(temporary, path);
    } finally {
      await rmdir(dir).catch(() => {});
    }
    ino = (await stat(path)).ino;
  } catch (error) {
    // Terminals are an extra: mail service goes on without them.
    server.close();
    log.event("control_failed", { path, error: String(error) });
    return { path, listening: false, close: () => Promise.resolve() };
  }
  log.event("control_listening", { path });
  return {
    path,
    listening: true,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Remove the file only if it is still ours, not a newer server's.
      const now = await stat(path).catch(() => undefined);
      if (now?.ino === ino) await rm(path, { force: true });
    },
  };
}

/** Runs one control connection: read the request, then stream messages. */
function serve(socket: Socket, options: ControlServerOptions): void {
  let buffer = "";
  let closeTerminal: (() => void) | undefined;
  const timer = setTimeout(() => socket.end("ERR timeout\n"), REQUEST_TIMEOUT_MS);
  const refuse = (reason: string) => {
    clearTimeout(timer);
    socket.end(`ERR ${reason}\n`);
  };
  socket.setEncoding("utf8");
  socket.on("error", () => socket.destroy());
  socket.on("close", () => {
    clearTimeout(timer);
    closeTerminal?.();
  });
  const onData = (chunk: string) => {
    buffer += chunk;
    const end = buffer.indexOf("\n");
    if (end === -1) {
      if (buffer.length >= MAX_REQUEST) refuse("request too long");
      return;
    }
    socket.off("data", onData);
    const line = buffer.slice(0, end).replace(/\r$/, "");
    // Nothing more is read: the rest of the connection only goes out.
    socket.on("data", () => {});
    void handle(line).catch((error) => {
      options.log.event("control_error", { error: String(error) });
      refuse("internal error");
    });
  };
  socket.on("data", onData);

  async function handle(line: string): Promise<void> {
    const request = parseWatch(line);
    if (!request) return refuse("usage: WATCH <address> [base64 password]");
    const { address, password } = request;
    if (options.enabled && !options.enabled()) {
      return refuse("terminals are off: the server runs without the terminal plugin");
    }
    if (password !== undefined && !(await options.verifyPassword(address, password))) {
      options.log.event("watch_refused", { address, reason: "bad password" });
      return refuse("authentication failed");
    }
    if (!options.isUser(address)) return refuse(`${address} is not a local user`);
    if (socket.destroyed) return;
    clearTimeout(timer);
    socket.write(`OK watching ${address}\n`);
    closeTerminal = options.hub.open(address, (message) => {
      if (socket.writableLength > MAX_BACKLOG) {
        socket.destroy();
        throw new Error("watcher is not reading");
      }
      socket.write(JSON.stringify({ from: message.from, text: message.text }) + "\n");
    });
    options.log.event("watch", { address, terminals: options.hub.size });
  }
}
