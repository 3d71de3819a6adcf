/**
 * The Bun adapter: `Bun.listen`/`Bun.connect` for TCP (with native
 * `upgradeTLS` for STARTTLS), `bun:sqlite` for the database, and
 * `process.on` for signals.
 *
 * @module
 */
import process from "node:process";
import { ChunkQueue } from "./chunk_queue.ts";
import type {
  Conn,
  ConnectOptions,
  ConnHandler,
  Endpoint,
  Listener,
  ListenOptions,
  TlsClientOptions,
  TlsInfo,
  TlsServerOptions,
} from "./conn.ts";
import { startTlsClientWithNode } from "./node_tls.ts";
import type { Runtime, SignalName } from "./runtime.ts";
import { lazyLibc, monotonicMicroseconds, sendUnixDatagram } from "./libc.ts";
import { loadBunFfi, openLibcBun } from "./libc_bun.ts";
import { type Database, PRAGMAS, type Row, runTransaction, type SqlValue } from "./sqlite.ts";

// The slice of Bun's API we use, typed here so Deno's type check passes.
interface BunSocket {
  data: BunConn | undefined;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort: number;
  write(data: Uint8Array): number;
  end(): void;
  pause(): void;
  resume(): void;
  upgradeTLS(options: {
    tls: { cert: string; key: string };
    socket: SocketHandlers;
    data?: BunConn;
  }): [BunSocket, BunSocket];
  getTLSVersion?(): string;
  getCipher?(): { name: string };
}
interface SocketHandlers {
  open?(socket: BunSocket): void;
  handshake?(socket: BunSocket, success: boolean, error: Error | null): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  close(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
  end?(socket: BunSocket): void;
}
interface BunSqliteStatement {
  run(...params: SqlValue[]): { changes: number };
  get(...params: SqlValue[]): Row | null;
  all(...params: SqlValue[]): Row[];
}
interface BunSqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): BunSqliteStatement;
  close(): void;
}
interface BunApi {
  listen(options: {
    hostname: string;
    port: number;
    socket: SocketHandlers;
  }): { port: number; hostname: string; stop(closeActive?: boolean): void };
  connect(options: { hostname: string; port: number; socket: SocketHandlers }): Promise<BunSocket>;
}

/** A {@linkcode Conn} over a native Bun socket. */
class BunConn implements Conn {
  readonly remote: Endpoint;
  readonly local: Endpoint;
  socket: BunSocket;
  queue: ChunkQueue;
  #pending: Uint8Array[] = [];
  #drained: (() => void)[] = [];
  #closed = false;
  #upgraded: BunConn | undefined;
  /** Set on the connection returned by a server-side upgrade. */
  #secure = false;
  /** Settles a pending STARTTLS handshake. */
  onHandshake: ((ok: boolean) => void) | undefined;

  constructor(socket: BunSocket, remote?: Endpoint) {
    this.socket = socket;
    this.remote = remote ?? { address: socket.remoteAddress, port: socket.remotePort ?? 0 };
    this.local = { address: socket.localAddress ?? "", port: socket.localPort };
    this.queue = new ChunkQueue({
      pause: () => this.socket.pause(),
      resume: () => this.socket.resume(),
    });
  }

  read(): Promise<Uint8Array | null> {
    return this.queue.read();
  }

  write(data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#pending.length === 0) {
      const written = this.socket.write(data);
      if (written >= data.byteLength) return Promise.resolve();
      this.#pending.push(data.subarray(Math.max(written, 0)));
    } else {
      this.#pending.push(data);
    }
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Called from the `drain` handler: writes what the kernel refused before. */
  flush(): void {
    while (this.#pending.length > 0) {
      const chunk = this.#pending[0] as Uint8Array;
      const written = this.socket.write(chunk);
      if (written < chunk.byteLength) {
        this.#pending[0] = chunk.subarray(Math.max(written, 0));
        return;
      }
      this.#pending.shift();
    }
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  /** Called when the socket goes away. */
  ended(): void {
    this.#closed = true;
    this.queue.end();
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  close(): void {
    // After an upgrade, closing the plaintext side closes the TLS socket too
    // (e.g. a handshake that never finishes).
    if (this.#upgraded) return this.#upgraded.close();
    if (this.#closed) return;
    this.#closed = true;
    this.socket.end();
  }

  startTls(options: TlsServerOptions): Promise<Conn> {
    const secure = new BunConn(this.socket, this.remote);
    secure.#secure = true;
    return new Promise((resolve, reject) => {
      secure.onHandshake = (ok) => ok ? resolve(secure) : reject(new Error("TLS handshake failed"));
      // Ciphertext keeps arriving on the old handlers too; they now ignore it
      // because `data` points at the new connection (RUNTIME_NOTES.md §2).
      const [, tls] = this.socket.upgradeTLS({
        // Bun's defaults already limit TLS to 1.2 and 1.3 (RUNTIME_NOTES.md §2).
        tls: { cert: options.cert, key: options.key },
        socket: HANDLERS,
        data: secure,
      });
      secure.socket = tls;
      this.#closed = true;
      this.#upgraded = secure;
      // Anything still buffered, or arriving on the raw side, is dropped.
      this.queue.discard();
      this.queue.end();
    });
  }

  startTlsClient(options: TlsClientOptions): Promise<Conn> {
    // node:tls rather than Bun's upgradeTLS: one client TLS path, with the
    // same verify semantics, on both runtimes (RUNTIME_NOTES.md §3).
    return startTlsClientWithNode(this, options);
  }

  /** The negotiated protocol and cipher, for Received headers. */
  get tlsInfo(): TlsInfo | undefined {
    if (!this.#secure) return undefined;
    return {
      version: this.socket.getTLSVersion?.() ?? "unknown",
      cipher: this.socket.getCipher?.()?.name ?? "unknown",
      // The server side asks for no client certificate.
      authorized: false,
    };
  }
}

const HANDLERS: SocketHandlers = {
  handshake(socket, success) {
    const conn = socket.data;
    conn?.onHandshake?.(success);
    if (conn) conn.onHandshake = undefined;
  },
  data(socket, chunk) {
    // Copy: Bun may reuse the chunk's memory after the handler returns.
    socket.data?.queue.push(new Uint8Array(chunk));
  },
  drain(socket) {
    socket.data?.flush();
  },
  close(socket) {
    socket.data?.ended();
  },
  end(socket) {
    socket.data?.ended();
  },
  error(socket) {
    socket.data?.ended();
  },
};

/** Loads `bun:sqlite` and returns an opener with Postino's pragmas. */
async function loadBunSqlite(): Promise<(path: string) => Database> {
  // A computed specifier keeps Deno's type check away from `bun:` modules.
  const specifier = "bun:sqlite";
  const { Database: BunDatabase } = await import(specifier) as {
    Database: new (path: string, options?: { create: boolean }) => BunSqliteDatabase;
  };
  return (file: string): Database => {
    const db = new BunDatabase(file, { create: true });
    for (const pragma of PRAGMAS) db.exec(pragma);
    const exec = (sql: string) => db.exec(sql);
    return {
      exec,
      prepare(sql) {
        const statement = db.prepare(sql);
        return {
          run: (...params) => ({ changes: Number(statement.run(...params).changes) }),
          get: (...params) => statement.get(...params) ?? undefined,
          all: (...params) => statement.all(...params),
        };
      },
      transaction: (fn) => runTransaction(exec, fn),
      close: () => db.close(),
    };
  };
}

/** Builds the Bun {@linkcode Runtime}. */
export async function createBunRuntime(): Promise<Runtime> {
  const bun = (globalThis as unknown as { Bun: BunApi }).Bun;
  const openDatabase = await loadBunSqlite();
  const ffi = await loadBunFfi();
  // Opened on first use: only a systemd service ever needs it.
  const libc = lazyLibc((name) => openLibcBun(ffi, name));
  return {
    name: "bun",
    listen(options: ListenOptions, onConn: ConnHandler): Promise<Listener> {
      const server = bun.listen({
        hostname: options.hostname,
        port: options.port,
        socket: {
          ...HANDLERS,
          open(socket) {
            const conn = new BunConn(socket);
            socket.data = conn;
            onConn(conn);
          },
        },
      });
      return Promise.resolve({
        local: { address: server.hostname, port: server.port },
        close: () => server.stop(false),
      });
    },
    async connect(options: ConnectOptions): Promise<Conn> {
      let conn: BunConn | undefined;
      const socket = await bun.connect({
        hostname: options.hostname,
        port: options.port,
        socket: {
          ...HANDLERS,
          open(socket) {
            conn = new BunConn(socket);
            socket.data = conn;
          },
        },
      });
      return conn ?? new BunConn(socket);
    },
    openDatabase,
    onSignal(signal: SignalName, fn: () => void) {
      process.on(signal, fn);
    },
    sendUnixDatagram: (path, data) => sendUnixDatagram(libc(), path, data),
    monotonicMicroseconds: () => monotonicMicroseconds(libc()),
  };
}
