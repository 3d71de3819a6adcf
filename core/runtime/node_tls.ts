/**
 * STARTTLS through `node:tls`, in both directions:
 *
 * - server side for runtimes without a native upgrade (Deno: see
 *   RUNTIME_NOTES.md §2);
 * - client side on every runtime, because Deno's native client cannot skip
 *   certificate checks per connection, which opportunistic SMTP TLS needs
 *   (RUNTIME_NOTES.md §3).
 *
 * The plaintext connection is wrapped in a Duplex and handed to
 * `TLSSocket({ isServer: true })` or `tls.connect({ socket })`.
 *
 * @module
 */
import { isIP } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect, createSecureContext, TLSSocket } from "node:tls";
import { ChunkQueue } from "./chunk_queue.ts";
import type { Conn, Endpoint, TlsClientOptions, TlsInfo, TlsServerOptions } from "./conn.ts";

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

/** A {@linkcode Conn} over an established node TLS socket (either side). */
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

  /** The negotiated protocol and cipher, for Received headers and logs. */
  get tlsInfo(): TlsInfo {
    return {
      version: this.#socket.getProtocol() ?? "unknown",
      cipher: this.#socket.getCipher()?.name ?? "unknown",
      authorized: this.#socket.authorized,
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

  startTlsClient(): Promise<Conn> {
    return Promise.reject(new Error("connection is already encrypted"));
  }
}

/** Settles once `socket` finished its handshake (`event`) or failed. */
function handshake(socket: TLSSocket, event: string, conn: Conn): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      socket.off("close", closed);
      socket.destroy();
      reject(error);
    };
    // A peer that hangs up mid-handshake may end the stream without an error.
    const closed = () => fail(new Error("connection closed during the TLS handshake"));
    socket.once(event, () => {
      socket.off("error", fail);
      socket.off("close", closed);
      resolve(new NodeTlsConn(socket, conn.remote, conn.local));
    });
    socket.once("error", fail);
    socket.once("close", closed);
  });
}

/** Runs the server side of a TLS handshake over `conn`. */
export function startTlsWithNode(conn: Conn, options: TlsServerOptions): Promise<Conn> {
  const secureContext = createSecureContext({
    cert: options.cert,
    key: options.key,
    minVersion: "TLSv1.2",
  });
  const socket = new TLSSocket(connToDuplex(conn), { isServer: true, secureContext });
  return handshake(socket, "secure", conn);
}

/**
 * Runs the client side of a TLS handshake over `conn`. With `verify` off the
 * certificate is not checked at all (opportunistic TLS, RFC 7435); with it on,
 * the chain must lead to `ca` (or the system store) and name `servername`.
 */
export function startTlsClientWithNode(conn: Conn, options: TlsClientOptions): Promise<Conn> {
  const socket = tlsConnect({
    socket: connToDuplex(conn),
    // `host` is what the certificate name is checked against; SNI must not
    // carry an IP literal (RFC 6066 §3), so `servername` is only a name.
    host: options.servername,
    ...(isIP(options.servername) === 0 ? { servername: options.servername } : {}),
    rejectUnauthorized: options.verify,
    ...(options.verify && options.ca !== undefined ? { ca: options.ca } : {}),
  });
  return handshake(socket, "secureConnect", conn);
}
