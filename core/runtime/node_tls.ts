/**
 * Server-side STARTTLS through `node:tls`, for runtimes without a native
 * upgrade (Deno: see RUNTIME_NOTES.md §2). The plaintext connection is
 * wrapped in a Duplex and handed to `TLSSocket({ isServer: true })`.
 *
 * @module
 */
import { Duplex } from "node:stream";
import { createSecureContext, TLSSocket } from "node:tls";
import { ChunkQueue } from "./chunk_queue.ts";
import type { Conn, Endpoint, TlsServerOptions } from "./conn.ts";

/** Wraps a plaintext {@linkcode Conn} as a node Duplex stream. */
function connToDuplex(conn: Conn): Duplex {
  let reading = false;
  return new Duplex({
    read() {
      if (reading) return;
      reading = true;
      conn.read().then((chunk) => {
        reading = false;
        this.push(chunk);
      }, (error) => this.destroy(error));
    },
    write(chunk: Uint8Array, _encoding, callback) {
      conn.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      conn.close();
      callback();
    },
    destroy(_error, callback) {
      conn.close();
      callback(null);
    },
  });
}

/** A {@linkcode Conn} over an established node TLS socket. */
class NodeTlsConn implements Conn {
  readonly remote: Endpoint;
  readonly local: Endpoint;
  #socket: TLSSocket;
  #queue: ChunkQueue;

  constructor(socket: TLSSocket, remote: Endpoint, local: Endpoint) {
    this.#socket = socket;
    this.remote = remote;
    this.local = local;
    this.#queue = new ChunkQueue(socket);
    socket.on("data", (chunk: Uint8Array) => this.#queue.push(chunk));
    socket.on("end", () => this.#queue.end());
    socket.on("close", () => this.#queue.end());
    socket.on("error", () => this.#queue.end());
  }

  /** The negotiated protocol and cipher, for Received headers. */
  get tlsInfo(): { version: string; cipher: string } {
    return {
      version: this.#socket.getProtocol() ?? "unknown",
      cipher: this.#socket.getCipher()?.name ?? "unknown",
    };
  }

  read(): Promise<Uint8Array | null> {
    return this.#queue.read();
  }

  write(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (error) => error ? reject(error) : resolve());
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  startTls(): Promise<Conn> {
    return Promise.reject(new Error("connection is already encrypted"));
  }
}

/** Runs the server side of a TLS handshake over `conn`. */
export function startTlsWithNode(conn: Conn, options: TlsServerOptions): Promise<Conn> {
  const secureContext = createSecureContext({
    cert: options.cert,
    key: options.key,
    minVersion: "TLSv1.2",
  });
  const socket = new TLSSocket(connToDuplex(conn), { isServer: true, secureContext });
  return new Promise((resolve, reject) => {
    socket.once("secure", () => resolve(new NodeTlsConn(socket, conn.remote, conn.local)));
    socket.once("error", reject);
  });
}
