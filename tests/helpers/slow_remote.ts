/**
 * Remotes that keep a delivery in progress for as long as a test wants:
 *
 * - {@linkcode startSilentRemote} accepts connections and never says a word,
 *   so an outbound delivery waits for the greeting;
 * - {@linkcode startHoldingProxy} sits in front of a real remote (smtp-sink)
 *   and holds the remote's reply to the end of DATA (the final `.`) until
 *   the test releases it: the remote has the message, the sender does not
 *   know yet.
 *
 * @example
 * ```ts
 * const sink = await startSink();
 * const proxy = await startHoldingProxy({ host: sink.host, port: sink.port });
 * // … relay_host = "127.0.0.1:${proxy.port}", send a message …
 * await proxy.held;      // the remote got the whole message
 * proxy.release();       // now the sender sees the 250
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createConnection, createServer, type Server, type Socket } from "node:net";

/** A remote that never greets. */
export interface SilentRemote {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Closes every connection and the listener. */
  close(): Promise<void>;
}

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("no address");
  return address.port;
}

/** Listens on 127.0.0.1:`port` (0: a free one) and never answers. */
export async function startSilentRemote(port = 0): Promise<SilentRemote> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  });
  const bound = await listen(server, port);
  return {
    port: bound,
    get connections() {
      return connections;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy that holds the reply to the end of DATA. */
export interface HoldingProxy {
  port: number;
  /** Resolves when a client has sent a final `.` and its reply is being held. */
  readonly held: Promise<void>;
  /** Lets the held replies (and everything after them) through. */
  release(): void;
  close(): Promise<void>;
}

/** The end of DATA (RFC 5321 §4.1.1.4). */
const END_OF_DATA = Buffer.from("\r\n.\r\n", "latin1");

/** Listens on 127.0.0.1 and pipes each connection to `target`, holding as described above. */
export async function startHoldingProxy(
  target: { host: string; port: number },
): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  let released = false;
  const waiting: (() => void)[] = [];
  let markHeld = () => {};
  const held = new Promise<void>((resolve) => markHeld = resolve);
  const server = createServer((inbound) => {
    const outbound = createConnection(target);
    let holding = false;
    let tail = Buffer.alloc(0);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
      socket.on("error", () => socket.destroy());
    }
    inbound.on("data", (chunk: Buffer) => {
      // Only the last bytes matter: the end of DATA may be split across chunks.
      const seen = Buffer.concat([tail, chunk]);
      if (!released && seen.includes(END_OF_DATA)) {
        holding = true;
        markHeld();
      }
      tail = seen.subarray(Math.max(0, seen.length - END_OF_DATA.length + 1));
      outbound.write(chunk);
    });
    outbound.on("data", (chunk: Buffer) => {
      if (holding && !released) waiting.push(() => inbound.write(chunk));
      else inbound.write(chunk);
    });
  });
  const port = await listen(server, 0);
  return {
    port,
    held,
    release() {
      released = true;
      for (const send of waiting.splice(0)) send();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
