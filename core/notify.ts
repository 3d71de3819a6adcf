/**
 * systemd's service notification protocol (sd_notify(3)): `READY=1` once
 * every listener accepts, `RELOADING=1` … `READY=1` around a SIGHUP reload,
 * and `STOPPING=1` when a stop begins, each a datagram of `KEY=value` lines
 * sent to the socket named by `$NOTIFY_SOCKET`.
 *
 * It never gets in the server's way: without `$NOTIFY_SOCKET` it does
 * nothing, and a failed send is logged once as `notify_failed`.
 *
 * @module
 */
import type { Logger } from "./log.ts";
import type { Runtime } from "./runtime/runtime.ts";

/** Tells the service manager what the server is doing. */
export interface Notifier {
  /** Whether there is a service manager to tell (`$NOTIFY_SOCKET` is set). */
  readonly enabled: boolean;
  /** Start-up is done: every listener accepts. `status` shows in `systemctl status`. */
  ready(status?: string): void;
  /**
   * A reload begins (with `MONOTONIC_USEC`, as `Type=notify-reload` wants).
   * Ignored before {@linkcode Notifier.ready}: a SIGHUP during start-up must
   * not announce readiness early.
   */
  reloading(status?: string): void;
  /** A reload is over, whether it was applied or refused: `READY=1` again. */
  reloaded(status?: string): void;
  /** A stop begins. */
  stopping(status?: string): void;
  /** Only a new status line. */
  status(text: string): void;
}

/** Options for {@linkcode createNotifier}. */
export interface NotifierOptions {
  /** The value of `$NOTIFY_SOCKET`: a path, or `@name` in the abstract namespace. */
  socket: string | undefined;
  /** Sends the datagrams and reads the monotonic clock. */
  runtime: Pick<Runtime, "sendUnixDatagram" | "monotonicMicroseconds">;
  log: Logger;
}

/** One field of a notification. */
export type NotifyField = readonly [key: string, value: string];

/**
 * The datagram text for `fields`: one `KEY=value` per line. A value is one
 * line, so newlines in a status become spaces.
 *
 * @example
 * ```ts
 * notifyMessage([["READY", "1"], ["STATUS", "listening"]]); // "READY=1\nSTATUS=listening\n"
 * ```
 */
export function notifyMessage(fields: readonly NotifyField[]): string {
  return fields.map(([key, value]) => `${key}=${value.replace(/[\r\n]+/g, " ")}\n`).join("");
}

/**
 * Creates the notifier for this process.
 *
 * @example
 * ```ts
 * const notifier = createNotifier({ socket: process.env.NOTIFY_SOCKET, runtime, log });
 * await server.start();
 * notifier.ready("listening on 0.0.0.0:25");
 * ```
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const { socket, runtime, log } = options;
  let failed = false;
  let started = false;
  const fail = (error: string) => {
    // One line, not one per state change: a broken socket stays broken.
    if (failed) return;
    failed = true;
    log.event("notify_failed", { socket, error });
  };
  const send = (fields: NotifyField[], status: string | undefined) => {
    if (!socket) return;
    if (status !== undefined) fields.push(["STATUS", status]);
    if (!runtime.sendUnixDatagram) return fail("this runtime cannot send unix datagrams");
    try {
      runtime.sendUnixDatagram(socket, new TextEncoder().encode(notifyMessage(fields)));
    } catch (error) {
      fail((error as Error).message);
    }
  };
  return {
    enabled: Boolean(socket),
    ready(status) {
      started = true;
      send([["READY", "1"]], status);
    },
    reloaded(status) {
      if (started) send([["READY", "1"]], status);
    },
    reloading(status) {
      if (!started) return;
      const fields: NotifyField[] = [["RELOADING", "1"]];
      try {
        const now = runtime.monotonicMicroseconds?.();
        if (now !== undefined) fields.push(["MONOTONIC_USEC", String(now)]);
      } catch {
        // Older systemd ignores the field anyway; the send reports a broken libc.
      }
      send(fields, status);
    },
    stopping: (status) => send([["STOPPING", "1"]], status),
    status: (text) => send([], text),
  };
}

/**
 * A status line naming the bound addresses.
 *
 * @example
 * ```ts
 * listeningStatus([{ address: "0.0.0.0", port: 25 }]); // "listening on 0.0.0.0:25"
 * ```
 */
export function listeningStatus(endpoints: readonly { address: string; port: number }[]): string {
  const names = endpoints.map((e) =>
    e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`
  );
  return `listening on ${names.join(", ")}`;
}
