/**
 * systemd socket activation (sd_listen_fds(3)): listening sockets passed as
 * descriptors 3, 4, … with `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`.
 *
 * Neither `Deno.listen` nor `Bun.listen` takes a descriptor (Bun's says
 * `Missing "port"`), but `node:net` `server.listen({ fd })` adopts one on
 * both runtimes (Deno 2.9.6, Bun 1.4.5), so inherited sockets are served
 * through `node:net` and {@linkcode NodeConn}.
 *
 * An inherited socket serves the configured listener with the same port and
 * address (a wildcard address on either side matches any), so the config
 * keeps saying what each port is for. Configured listeners without one bind
 * as usual; inherited sockets that no listener wants are closed.
 *
 * @module
 */
import { createServer, type Server as NetServer, type Socket } from "node:net";
import type { ConnHandler, Endpoint, Listener, ListenOptions } from "./conn.ts";
import { NodeConn, plainAddress } from "./node_conn.ts";
import type { Runtime } from "./runtime.ts";

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** One passed descriptor. */
export interface InheritedSocket {
  fd: number;
  /** Its `FileDescriptorName=` (from LISTEN_FDNAMES), if any. */
  name: string | undefined;
}

/** What the environment says, before any descriptor is touched. */
export type ActivationEnv =
  | { kind: "none" }
  | { kind: "sockets"; sockets: InheritedSocket[] }
  | { kind: "ignored"; reason: string };

/**
 * Reads `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` for process `pid`.
 * Variables meant for another process (`LISTEN_PID` differs) are ignored, as
 * sd_listen_fds(3) says.
 *
 * @example
 * ```ts
 * activationEnv({ LISTEN_FDS: "1", LISTEN_PID: "42" }, 42);
 * // { kind: "sockets", sockets: [{ fd: 3, name: undefined }] }
 * ```
 */
export function activationEnv(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
): ActivationEnv {
  const count = env["LISTEN_FDS"];
  if (count === undefined || count === "") return { kind: "none" };
  if (!/^\d+$/.test(count)) return { kind: "ignored", reason: `LISTEN_FDS="${count}"` };
  const owner = env["LISTEN_PID"];
  if (owner !== undefined && owner !== String(pid)) {
    return { kind: "ignored", reason: `LISTEN_PID is ${owner}, not ${pid}` };
  }
  const names = (env["LISTEN_FDNAMES"] ?? "").split(":");
  const sockets = Array.from({ length: Number(count) }, (_, i) => ({
    fd: LISTEN_FDS_START + i,
    name: names[i] || undefined,
  }));
  return { kind: "sockets", sockets };
}

const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

/** Whether an inherited socket bound to `bound` can serve a listener configured as `wanted`. */
export function servesListener(bound: Endpoint, wanted: ListenOptions): boolean {
  if (bound.port !== wanted.port || wanted.port === 0) return false;
  const host = wanted.hostname.replace(/^\[(.*)\]$/, "$1");
  return bound.address === host || WILDCARDS.has(bound.address) || WILDCARDS.has(host);
}

/** An inherited socket, accepting already, its connections parked until a listener claims it. */
export interface AdoptedSocket extends InheritedSocket {
  readonly local: Endpoint;
  /** Whether a configured listener took it. */
  readonly claimed: boolean;
}

/** Inherited sockets in use: a runtime that serves them, and the clean-up. */
export interface Activation {
  readonly sockets: readonly AdoptedSocket[];
  /** `runtime` with `listen()` answered from the inherited sockets where they match. */
  wrap(runtime: Runtime): Runtime;
  /** Closes the sockets no listener claimed; returns them for the log. */
  closeUnclaimed(): AdoptedSocket[];
}

class Adopted implements AdoptedSocket {
  readonly fd: number;
  readonly name: string | undefined;
  readonly local: Endpoint;
  #server: NetServer;
  #parked: Socket[] = [];
  #handler: ConnHandler | undefined;

  constructor(socket: InheritedSocket, server: NetServer, local: Endpoint) {
    this.fd = socket.fd;
    this.name = socket.name;
    this.#server = server;
    this.local = local;
    server.on("connection", (client: Socket) => {
      if (this.#handler) this.#handler(new NodeConn(client));
      else this.#parked.push(client);
    });
  }

  get claimed(): boolean {
    return this.#handler !== undefined;
  }

  claim(onConn: ConnHandler): Listener {
    this.#handler = onConn;
    for (const client of this.#parked.splice(0)) onConn(new NodeConn(client));
    return { local: this.local, close: () => this.close() };
  }

  close(): void {
    this.#server.close();
    for (const client of this.#parked.splice(0)) client.destroy();
  }
}

function adopt(socket: InheritedSocket): Promise<Adopted> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ fd: socket.fd }, () => {
      server.off("error", reject);
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        return reject(new Error("not a TCP socket"));
      }
      resolve(
        new Adopted(socket, server, { address: plainAddress(address.address), port: address.port }),
      );
    });
  });
}

/**
 * Starts accepting on every inherited socket. One that cannot be adopted
 * (not a listening TCP socket) is reported through `failed` and skipped.
 */
export async function adoptSockets(
  sockets: readonly InheritedSocket[],
  failed: (socket: InheritedSocket, error: Error) => void,
): Promise<Activation> {
  const adopted: Adopted[] = [];
  for (const socket of sockets) {
    try {
      adopted.push(await adopt(socket));
    } catch (error) {
      failed(socket, error as Error);
    }
  }
  return {
    sockets: adopted,
    wrap: (runtime) => ({
      ...runtime,
      listen(options, onConn) {
        const match = adopted.find((s) => !s.claimed && servesListener(s.local, options));
        return match ? Promise.resolve(match.claim(onConn)) : runtime.listen(options, onConn);
      },
    }),
    closeUnclaimed() {
      const unclaimed = adopted.filter((s) => !s.claimed);
      for (const socket of unclaimed) socket.close();
      return unclaimed;
    },
  };
}
