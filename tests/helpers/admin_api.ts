/**
 * A client for the admin HTTP API of a server started by
 * `startServer({ args: ["--http", "127.0.0.1:0"] })`: finds the port in the
 * `admin_http` log line and the token in `<data-dir>/admin-token`, and
 * reads Server-Sent Events streams with a deadline.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningServer } from "./server.ts";

/** Requests against one server's admin API. */
export interface AdminClient {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  token: string;
  /** `fetch(base + path)` with the token unless `auth` is false or another string. */
  fetch(path: string, init?: RequestInit & { auth?: boolean | string }): Promise<Response>;
  /** A request with a JSON body (or none); returns the status and the parsed body. */
  json<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
}

/** The admin client of `server` (waits for its `admin_http` line). */
export async function adminClient(server: RunningServer): Promise<AdminClient> {
  await server.waitFor(/admin_http address=\S+ port=\d+/);
  const port = Number(/admin_http address=\S+ port=(\d+)/.exec(server.output())?.[1]);
  const base = `http://127.0.0.1:${port}`;
  const token = readFileSync(join(server.dataDir, "admin-token"), "utf8").trim();
  const client: AdminClient = {
    base,
    token,
    fetch(path, init = {}) {
      const { auth = true, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (auth !== false) {
        headers.set("authorization", `Bearer ${typeof auth === "string" ? auth : token}`);
      }
      return fetch(base + path, { ...rest, headers });
    },
    async json<T>(method: string, path: string, body?: unknown) {
      const response = await client.fetch(path, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      });
      const text = await response.text();
      return { status: response.status, body: (text === "" ? {} : JSON.parse(text)) as T };
    },
  };
  return client;
}

/** One received Server-Sent Event. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** Reads one event stream; `next` waits for events with a deadline. */
export class SseReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";
  /** Every event so far. */
  readonly events: SseMessage[] = [];
  /** Comment lines (heartbeats) so far. */
  comments = 0;
  ended = false;

  constructor(response: Response) {
    if (!response.body) throw new Error("no body");
    this.#reader = response.body.getReader();
  }

  #parse(): void {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end === -1) return;
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let id: string | undefined;
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.comments++;
        else if (line.startsWith("id: ")) id = line.slice(4);
        else if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length > 0) this.events.push({ id, event, data: data.join("\n") });
    }
  }

  /** Reads until `done(events)` holds or the stream ends; throws after `timeoutMs`. */
  async until(done: (events: SseMessage[]) => boolean, timeoutMs = 15_000): Promise<SseMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.events) && !this.ended) {
      const left = deadline - Date.now();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
      ]).finally(() => clearTimeout(timer));
      if (chunk === "timeout") {
        throw new Error(
          `event stream: condition not met in time; got ${JSON.stringify(this.events)}`,
        );
      }
      if (chunk.done) this.ended = true;
      else {
        this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
        this.#parse();
      }
    }
    return this.events;
  }

  /** Stops reading (closes the connection). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
