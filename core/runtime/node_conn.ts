/**
 * A {@linkcode Conn} over a plain `node:net` socket. The native listeners
 * (`Deno.listen`, `Bun.listen`) cannot adopt an inherited descriptor, but
 * `node:net` can on both runtimes (`server.listen({ fd })`), so sockets
 * passed by systemd (`activation.ts`) are served through this class.
 *
 * @module
 */
import type { Socket } from "node:net";
import { ChunkQueue } from "./chunk_queue.ts";
import type { Conn, Endpoint, TlsClientOptions, TlsServerOptions } from "./conn.ts";
import { startTlsClientWithNode, startTlsWithNode } from "./node_tls.ts";

/**
 * An address as the rest of Postino expects it: an IPv4 client reaching a
 * dual-stack `[::]` socket (what systemd's `ListenStream=25` binds) shows up
 * as `::ffff:a.b.c.d`, which relay networks and logs want as `a.b.c.d`.
 */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] as string : address;
}

/** A connection accepted by a `node:net` server. */
export class NodeConn implements Conn {
  readonly remote: Endpoint;
  readonly local: Endpoint;
  #socket: Socket;
  #queue: ChunkQueue;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.remote = { address: plainAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
    this.local = { address: plainAddress(socket.localAddress), port: socket.localPort ?? 0 };
    this.#queue = new ChunkQueue(socket);
    socket.on("data", (chunk: Uint8Array) => this.#queue.push(chunk));
    socket.on("end", () => this.#queue.end());
    socket.on("close", () => this.#queue.end());
    socket.on("error", () => this.#queue.end());
  }

  read(): Promise<Uint8Array | null> {
    return this.#queue.read();
  }

  write(data: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      // A write to a dead peer resolves too, as on the native adapters: the
      // reader sees the end of stream and the session finishes.
      if (this.#socket.destroyed) return resolve();
      this.#socket.write(data, () => resolve());
    });
  }

  close(): void {
    // Everything written is already with the kernel (write resolves after
    // that), which still sends it after close(2).
    this.#socket.destroy();
  }

  startTls(options: TlsServerOptions): Promise<Conn> {
    return startTlsWithNode(this, options);
  }

  startTlsClient(options: TlsClientOptions): Promise<Conn> {
    return startTlsClientWithNode(this, options);
  }
}
