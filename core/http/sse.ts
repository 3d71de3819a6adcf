/**
 * Server-Sent Events responses (HTML Living Standard, "Server-sent
 * events"): `id:`, `event:` and `data:` fields, a comment line as the
 * heartbeat so proxies and browsers see the stream is alive.
 *
 * Each stream's buffer is bounded. The HTTP server reads the body only as
 * fast as the client takes it, so a client that stops reading makes the
 * queue grow; past `maxBufferedBytes` it is disconnected (its browser
 * reconnects with `Last-Event-ID` and replays what the bus still keeps).
 * Streams end when the client goes, when the source ends them, and when the
 * app closes (`lifecycle.onClose`), so a shutdown never waits on a watcher.
 *
 * @example
 * ```ts
 * return sseResponse({ lifecycle, signal: c.req.raw.signal }, (stream) => {
 *   return bus.subscribe((e) => stream.send({ id: e.seq, event: "mail", data: JSON.stringify(e) }));
 * });
 * ```
 *
 * @module
 */
import type { Lifecycle } from "./app.ts";

/** One event to send. */
export interface SseEvent {
  id?: string | number;
  event?: string;
  /** The payload; a line feed in it becomes several `data:` lines. */
  data: string;
}

/** The sending side of one open stream. */
export interface SseStream {
  /** Queues `event`; false when the stream is closed (or was just closed as too slow). */
  send(event: SseEvent): boolean;
  /** Ends the stream. */
  close(): void;
  readonly closed: boolean;
}

/** Options for {@linkcode sseResponse}. */
export interface SseOptions {
  lifecycle: Lifecycle;
  /** The request's signal: the client went away. */
  signal?: AbortSignal;
  /** Time between heartbeat comments (default 15 s). */
  heartbeatMs?: number;
  /** The most bytes queued for a client before it is cut off (default 1 MiB). */
  maxBufferedBytes?: number;
  /** The reconnection delay suggested to the browser (default 3 s). */
  retryMs?: number;
}

const encoder = new TextEncoder();

/** `event` in the wire format, ending with the empty line. */
export function formatSseEvent(event: SseEvent): string {
  let text = "";
  // Field values cannot hold line breaks; ids and names come from us anyway.
  if (event.id !== undefined) text += `id: ${String(event.id).replace(/[\r\n]/g, "")}\n`;
  if (event.event !== undefined) text += `event: ${event.event.replace(/[\r\n]/g, "")}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
  return `${text}\n`;
}

/**
 * An event-stream response. `start` runs once, at once, with the stream;
 * the function it returns (if any) runs when the stream ends, whatever the
 * reason.
 */
export function sseResponse(
  options: SseOptions,
  start: (stream: SseStream) => (() => void) | void,
): Response {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const max = options.maxBufferedBytes ?? 1024 * 1024;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const cleanups: (() => void)[] = [];
  const finish = () => {
    if (closed) return;
    closed = true;
    for (const fn of cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // One failing cleanup must not keep the others from running.
      }
    }
  };
  const end = () => {
    if (closed) return;
    finish();
    try {
      controller.close();
    } catch {
      // Already errored or cancelled.
    }
  };
  const enqueue = (text: string): boolean => {
    if (closed) return false;
    controller.enqueue(encoder.encode(text));
    // desiredSize = highWaterMark − queued bytes: below zero the client is behind.
    if ((controller.desiredSize ?? 0) < 0) {
      finish();
      controller.error(new Error("event stream client too slow"));
      return false;
    }
    return true;
  };
  const stream: SseStream = {
    send: (event) => enqueue(formatSseEvent(event)),
    close: end,
    get closed() {
      return closed;
    },
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      enqueue(`retry: ${options.retryMs ?? 3000}\n\n`);
      const timer = setInterval(() => enqueue(": heartbeat\n\n"), heartbeatMs);
      cleanups.push(() => clearInterval(timer));
      cleanups.push(options.lifecycle.onClose(end));
      if (options.signal) {
        const onAbort = () => end();
        if (options.signal.aborted) queueMicrotask(onAbort);
        options.signal.addEventListener("abort", onAbort, { once: true });
        cleanups.push(() => options.signal?.removeEventListener("abort", onAbort));
      }
      const stop = start(stream);
      if (stop) {
        if (closed) stop();
        else cleanups.push(stop);
      }
    },
    cancel() {
      finish();
    },
  }, { highWaterMark: max, size: (chunk) => chunk.byteLength });
  return new Response(body, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      // nginx buffers responses unless told not to.
      "X-Accel-Buffering": "no",
    },
  });
}
