/**
 * The Deno adapter: `Deno.listen`/`Deno.connect` for TCP, `node:sqlite` for
 * the database, `Deno.addSignalListener` for signals.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import type {
  Conn,
  ConnectOptions,
  ConnHandler,
  Endpoint,
  Listener,
  ListenOptions,
  TlsClientOptions,
} from "./conn.ts";
import { startTlsClientWithNode, startTlsWithNode } from "./node_tls.ts";
import type { Runtime, SignalName } from "./runtime.ts";
import { lazyLibc, monotonicMicroseconds, sendUnixDatagram } from "./libc.ts";
import { openLibcDeno } from "./libc_deno.ts";
import { type Database, PRAGMAS, type Row, runTransaction, type SqlValue } from "./sqlite.ts";

const READ_SIZE = 64 * 1024;

function endpoint(addr: Deno.Addr): Endpoint {
  return addr.transport === "tcp"
    ? { address: addr.hostname, port: addr.port }
    : { address: "unknown", port: 0 };
}

/** A {@linkcode Conn} over a native Deno TCP connection. */
class DenoConn implements Conn {
  readonly remote: Endpoint;
  readonly local: Endpoint;
  #conn: Deno.Conn;
  #closed = false;
  // One read buffer per connection; each chunk is copied out at its real
  // size, so a lock-step client does not cost a fresh 64 KiB per command.
  #buffer = new Uint8Array(READ_SIZE);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.remote = endpoint(conn.remoteAddr);
    this.local = endpoint(conn.localAddr);
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    try {
      const n = await this.#conn.read(this.#buffer);
      return n === null ? null : this.#buffer.slice(0, n);
    } catch {
      return null; // reset or closed under us: same as end of stream
    }
  }

  async write(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.byteLength) {
      offset += await this.#conn.write(data.subarray(offset));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
  }

  startTls(options: { cert: string; key: string }): Promise<Conn> {
    // Deno has no server-side upgrade of its own (RUNTIME_NOTES.md §2).
    return startTlsWithNode(this, options);
  }

  startTlsClient(options: TlsClientOptions): Promise<Conn> {
    // Deno.startTls cannot skip verification per connection, which
    // opportunistic SMTP TLS needs (RUNTIME_NOTES.md §3).
    return startTlsClientWithNode(this, options);
  }
}

function openDatabase(path: string): Database {
  const db = new DatabaseSync(path);
  for (const pragma of PRAGMAS) db.exec(pragma);
  const exec = (sql: string) => db.exec(sql);
  return {
    exec,
    prepare(sql) {
      const statement = db.prepare(sql);
      return {
        run: (...params: SqlValue[]) => ({ changes: Number(statement.run(...params).changes) }),
        get: (...params: SqlValue[]) => statement.get(...params) as Row | undefined,
        all: (...params: SqlValue[]) => statement.all(...params) as Row[],
      };
    },
    transaction: (fn) => runTransaction(exec, fn),
    close: () => db.close(),
  };
}

/** Builds the Deno {@linkcode Runtime}. */
export function createDenoRuntime(): Promise<Runtime> {
  // Opened on first use: only a systemd service ever needs it.
  const libc = lazyLibc(openLibcDeno);
  return Promise.resolve({
    name: "deno",
    listen(options: ListenOptions, onConn: ConnHandler): Promise<Listener> {
      const listener = Deno.listen({ hostname: options.hostname, port: options.port });
      (async () => {
        try {
          for await (const conn of listener) onConn(new DenoConn(conn));
        } catch {
          // the listener was closed
        }
      })();
      return Promise.resolve({
        local: endpoint(listener.addr),
        close: () => {
          try {
            listener.close();
          } catch {
            // already closed
          }
        },
      });
    },
    async connect(options: ConnectOptions): Promise<Conn> {
      return new DenoConn(await Deno.connect({ hostname: options.hostname, port: options.port }));
    },
    openDatabase,
    onSignal(signal: SignalName, fn: () => void) {
      Deno.addSignalListener(signal, fn);
    },
    sendUnixDatagram: (path, data) => sendUnixDatagram(libc(), path, data),
    monotonicMicroseconds: () => monotonicMicroseconds(libc()),
  });
}
