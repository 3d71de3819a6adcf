/**
 * Turns a push-style socket (Bun handlers, node streams) into the pull-style
 * `read()` of {@linkcode Conn}, pausing the source past a high-water mark so a
 * client can never make us buffer without bound.
 *
 * @module
 */

/** The flow-control hooks of the underlying socket. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/** Bytes buffered before the source is paused. */
export const HIGH_WATER = 256 * 1024;

/** A FIFO of received chunks with one pending reader at a time. */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #ended = false;
  #paused = false;
  #waiter: ((chunk: Uint8Array | null) => void) | undefined;
  #flow: FlowControl;

  constructor(flow: FlowControl) {
    this.#flow = flow;
  }

  /** Adds a chunk from the socket. */
  push(chunk: Uint8Array): void {
    if (this.#ended) return;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#bytes += chunk.byteLength;
    if (this.#bytes > HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** Marks end of stream; pending and later reads get `null`. */
  end(): void {
    this.#ended = true;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter(null);
    }
  }

  /** The next chunk, or `null` after end of stream. */
  read(): Promise<Uint8Array | null> {
    const chunk = this.#chunks.shift();
    if (chunk) {
      this.#bytes -= chunk.byteLength;
      if (this.#paused && this.#bytes < HIGH_WATER / 2) {
        this.#paused = false;
        this.#flow.resume();
      }
      return Promise.resolve(chunk);
    }
    if (this.#ended) return Promise.resolve(null);
    if (this.#waiter) throw new Error("ChunkQueue allows one reader at a time");
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /** Drops everything buffered (used after STARTTLS). */
  discard(): void {
    this.#chunks = [];
    this.#bytes = 0;
  }
}
