/**
 * The runtime seam. `loadRuntime()` picks the adapter for the runtime we are
 * on; the rest of Postino only ever sees the {@linkcode Runtime} interface.
 *
 * @module
 */
import type { Conn, ConnectOptions, ConnHandler, Listener, ListenOptions } from "./conn.ts";
import type { Database } from "./sqlite.ts";

/** Signals Postino reacts to. */
export type SignalName = "SIGTERM" | "SIGINT" | "SIGHUP";

/** Everything that differs between Deno and Bun. */
export interface Runtime {
  readonly name: "deno" | "bun";
  /** Binds a TCP listener; each accepted connection goes to `onConn`. */
  listen(options: ListenOptions, onConn: ConnHandler): Promise<Listener>;
  /** Dials a TCP connection. */
  connect(options: ConnectOptions): Promise<Conn>;
  /** Opens (creating if needed) a SQLite database with Postino's pragmas. */
  openDatabase(path: string): Database;
  /** Calls `fn` whenever the process receives `signal`. */
  onSignal(signal: SignalName, fn: () => void): void;
  /**
   * Sends one datagram to the AF_UNIX socket at `path` (`@name`: abstract
   * namespace), e.g. systemd's `NOTIFY_SOCKET`. Linux only; throws when it
   * cannot. Optional so test doubles need not have it.
   */
  sendUnixDatagram?(path: string, data: Uint8Array): void;
  /** CLOCK_MONOTONIC in microseconds (systemd's `MONOTONIC_USEC`); throws when it cannot. */
  monotonicMicroseconds?(): bigint;
}

/** Which runtime is executing this code. */
export function runtimeName(): "deno" | "bun" {
  if ("Bun" in globalThis) return "bun";
  if ("Deno" in globalThis) return "deno";
  throw new Error("Postino runs on Deno or Bun");
}

/** Loads the adapter for the current runtime. */
export async function loadRuntime(): Promise<Runtime> {
  if (runtimeName() === "bun") {
    const { createBunRuntime } = await import("./bun.ts");
    return await createBunRuntime();
  }
  const { createDenoRuntime } = await import("./deno.ts");
  return await createDenoRuntime();
}
