/**
 * HTTP serving behind the runtime seam: `Deno.serve` on Deno, `Bun.serve` on
 * Bun, both driving a plain fetch handler (the hono app's `fetch`).
 *
 * @module
 */
import { runtimeName } from "./runtime.ts";

/** What the server knows about a request besides the request itself. */
export interface RequestInfo {
  /** The client's IP address. */
  readonly remoteAddress: string | undefined;
}

/** A request handler in the web-standard shape, plus the client's address. */
export type FetchHandler = (request: Request, info: RequestInfo) => Response | Promise<Response>;

/** A running HTTP listener. */
export interface HttpServer {
  readonly hostname: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /**
   * Stops accepting and ends the listener. Open responses (event streams)
   * must be ended by their owner first; this waits at most `graceMs` for them.
   */
  close(graceMs?: number): Promise<void>;
}

/** Where to listen. */
export interface HttpListenOptions {
  hostname: string;
  port: number;
}

// The slice of Bun's API we use, typed here so Deno's type check passes.
interface BunServer {
  readonly port: number;
  requestIP(request: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void>;
}
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request, server: BunServer): Response | Promise<Response>;
    idleTimeout: number;
    error(error: Error): Response;
  }): BunServer;
}

function internalError(): Response {
  return Response.json({ error: "internal error" }, { status: 500 });
}

function withTimeout(done: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    done.then(() => {}),
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
  ]).finally(() => clearTimeout(timer));
}

function serveDeno(options: HttpListenOptions, handler: FetchHandler): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        onListen: (addr) => {
          resolve({
            hostname: options.hostname,
            port: (addr as Deno.NetAddr).port,
            close: async (graceMs = 2000) => {
              await withTimeout(server.shutdown(), graceMs);
            },
          });
        },
        onError: internalError,
      }, (request, info) =>
        handler(request, {
          remoteAddress: info.remoteAddr.transport === "tcp" ? info.remoteAddr.hostname : undefined,
        }));
    } catch (error) {
      reject(error);
    }
  });
}

function serveBun(options: HttpListenOptions, handler: FetchHandler): Promise<HttpServer> {
  const bun = (globalThis as unknown as { Bun: BunServe }).Bun;
  const server = bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch: (request, server) =>
      handler(request, { remoteAddress: server.requestIP(request)?.address }),
    // Event streams stay open for as long as a browser watches; 0 = no idle cut-off.
    idleTimeout: 0,
    error: internalError,
  });
  return Promise.resolve({
    hostname: options.hostname,
    port: server.port,
    close: async (graceMs = 2000) => {
      await withTimeout(server.stop(false), graceMs);
      await server.stop(true);
    },
  });
}

/**
 * Serves `handler` on `options`.
 *
 * @throws When the address cannot be bound (in use, not permitted).
 */
export async function serveHttp(
  options: HttpListenOptions,
  handler: FetchHandler,
): Promise<HttpServer> {
  // Bun.serve throws synchronously on a busy port; `await` makes every failure a rejection.
  return runtimeName() === "bun"
    ? await serveBun(options, handler)
    : await serveDeno(options, handler);
}
