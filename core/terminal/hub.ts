/**
 * The terminal hub: which users have a "terminal" open right now (RFC 821
 * SEND, SOML and SAML deliver to it). A terminal is a live `postino watch`
 * session, or later the web UI; the hub only keeps callbacks, so it does not
 * care which. It lives in memory, for the life of the server process.
 *
 * @example
 * ```ts
 * const hub = new TerminalHub();
 * const close = hub.open("alice@example.org", (m) => print(m.from, m.text));
 * hub.deliver("Alice@Example.org", { from: "bob@example.org", text: "lunch?" }); // 1
 * close();
 * ```
 *
 * @module
 */
import { normalizeAddress } from "../store/address.ts";

/** One message shown on a terminal. */
export interface TerminalMessage {
  /** The envelope sender, or `<>` for the null reverse-path. */
  readonly from: string;
  /** The text, already made safe to print (see `terminalText`). */
  readonly text: string;
}

/** Shows one message on one terminal; it must not block. */
export type TerminalWrite = (message: TerminalMessage) => void;

/** In-memory registry: address → open terminals. */
export class TerminalHub {
  #terminals = new Map<string, Set<TerminalWrite>>();

  /**
   * Registers a terminal for `address`.
   *
   * @param address The user's address (compared case-insensitively).
   * @param write Called for each message sent to this terminal.
   * @returns A function that closes this terminal; calling it twice is harmless.
   */
  open(address: string, write: TerminalWrite): () => void {
    const key = normalizeAddress(address);
    // A fresh wrapper per open, so one callback opened twice counts as two terminals.
    const entry: TerminalWrite = (message) => write(message);
    let set = this.#terminals.get(key);
    if (!set) this.#terminals.set(key, set = new Set());
    set.add(entry);
    return () => {
      const current = this.#terminals.get(key);
      if (!current?.delete(entry)) return;
      if (current.size === 0) this.#terminals.delete(key);
    };
  }

  /** Whether `address` has at least one open terminal. */
  has(address: string): boolean {
    return this.#terminals.has(normalizeAddress(address));
  }

  /** How many terminals are open, across all users (for logs). */
  get size(): number {
    let n = 0;
    for (const set of this.#terminals.values()) n += set.size;
    return n;
  }

  /**
   * Shows `message` on every open terminal of `address`.
   *
   * @returns How many terminals got it; a terminal whose callback throws
   * does not count and does not stop the others.
   */
  deliver(address: string, message: TerminalMessage): number {
    const set = this.#terminals.get(normalizeAddress(address));
    let delivered = 0;
    // A copy: a callback may close its own terminal while we iterate.
    for (const write of [...(set ?? [])]) {
      try {
        write(message);
        delivered++;
      } catch {
        // A broken terminal is the watcher's problem; the others still get it.
      }
    }
    return delivered;
  }
}
