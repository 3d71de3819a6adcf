/**
 * A stand-in for systemd's notify socket: a python3 process bound to an
 * AF_UNIX datagram socket that reports every datagram as a JSON line. Node
 * APIs cannot receive unix datagrams, hence python3 (installed in CI).
 *
 * When a datagram says `READY=1` with `STATUS=listening on HOST:PORT`, the
 * receiver connects to that address at once and records the first reply
 * line, so a test can see that the listener accepted when READY came.
 *
 * @example
 * ```ts
 * const receiver = await startNotifyReceiver();
 * const server = await startServer({ env: { NOTIFY_SOCKET: receiver.path } });
 * const ready = await receiver.next((n) => n.fields.READY === "1");
 * ```
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./server.ts";

/** One datagram as the receiver saw it. */
export interface Notification {
  /** CLOCK_MONOTONIC in µs when it arrived. */
  receivedUsec: bigint;
  text: string;
  fields: Record<string, string>;
  /** For READY=1 naming an address: the first line read from it, or `error: …`. */
  greeting?: string;
}

/** A running receiver. */
export interface NotifyReceiver {
  /** The value for NOTIFY_SOCKET. */
  readonly path: string;
  /** Every datagram so far, in order. */
  readonly notifications: Notification[];
  /** Waits for the first datagram after the `from`-th that matches `match`. */
  next(
    match: (n: Notification) => boolean,
    from?: number,
    timeoutMs?: number,
  ): Promise<Notification>;
  close(): Promise<void>;
}

const SCRIPT = String.raw`
import json, re, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    now = time.monotonic_ns() // 1000
    text = data.decode()
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    out = {"t": now, "text": text, "fields": fields}
    m = re.match(r"listening on (\d+\.\d+\.\d+\.\d+):(\d+)", fields.get("STATUS", ""))
    if fields.get("READY") == "1" and m:
        try:
            c = socket.create_connection((m.group(1), int(m.group(2))), timeout=10)
            out["greeting"] = c.recv(512).decode(errors="replace").split("\r\n")[0]
            c.close()
        except OSError as e:
            out["greeting"] = "error: " + str(e)
    print(json.dumps(out), flush=True)
`;

/**
 * Starts a receiver on a fresh path, or on `@name` (abstract namespace) when
 * `abstract` is set. Resolves `undefined` when python3 is not installed.
 */
export async function startNotifyReceiver(
  options: { abstract?: boolean } = {},
): Promise<NotifyReceiver | undefined> {
  const dir = tempDir("postino-notify-");
  const path = options.abstract
    ? `@postino-test-${process.pid}-${Math.random().toString(36).slice(2)}`
    : join(dir, "notify.sock");
  const child = spawn("python3", ["-c", SCRIPT, path], { stdio: ["ignore", "pipe", "pipe"] });
  const notifications: Notification[] = [];
  const waiters = new Set<() => void>();
  let buffer = "";
  let errors = "";
  let bound = false;
  child.stderr.on("data", (d) => errors += d);
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const record = JSON.parse(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      if (record.bound) bound = true;
      else {
        notifications.push({
          receivedUsec: BigInt(record.t),
          text: record.text,
          fields: record.fields,
          ...(record.greeting !== undefined ? { greeting: record.greeting } : {}),
        });
      }
    }
    for (const wake of waiters) wake();
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const started = await new Promise<boolean>((resolve) => {
    child.once("error", () => resolve(false));
    child.once("close", () => resolve(false));
    waiters.add(function once() {
      if (!bound) return;
      waiters.delete(once);
      resolve(true);
    });
  });
  if (!started) {
    rmSync(dir, { recursive: true, force: true });
    if (errors) throw new Error(`notify receiver failed: ${errors}`);
    return undefined;
  }
  return {
    path,
    notifications,
    next(match, from = 0, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = notifications.slice(from).find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = notifications.map((n) => JSON.stringify(n.text)).join(", ");
          reject(new Error(`no matching notification; got: ${seen}; stderr: ${errors}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      if (child.exitCode === null && child.pid !== undefined) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
