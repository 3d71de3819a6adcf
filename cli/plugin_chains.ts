/**
 * Closes plugin chains (`Plugin.close()`): a chain a reload replaced once
 * its last session has ended, and every chain left at shutdown. A close()
 * that throws or hangs is logged and skipped, so it can neither crash a
 * reload nor keep the process from stopping.
 *
 * @module
 */
import { withDeadline } from "../core/deadline.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import type { Logger } from "../core/log.ts";

/** A plugin chain, as a hook runner holds it. */
export interface Chain {
  readonly plugins: readonly Plugin[];
}

/** What {@linkcode ChainCloser} needs. */
export interface ChainCloserOptions<C extends Chain> {
  log: Logger;
  /** How long one plugin's close() may take. */
  timeoutMs: number;
  /** Resolves once no session runs with `chain` (the server knows). */
  whenUnused(chain: C): Promise<void>;
}

/**
 * Tracks the chains that still need closing.
 *
 * @example
 * ```ts
 * const chains = new ChainCloser({ log, timeoutMs: 30_000, whenUnused: (c) => server.whenUnused(c) });
 * chains.retire(previous.runner); // after a reload
 * await chains.closeAll([current.runner]); // at shutdown
 * ```
 */
export class ChainCloser<C extends Chain> {
  #options: ChainCloserOptions<C>;
  #retiring = new Set<C>();

  constructor(options: ChainCloserOptions<C>) {
    this.#options = options;
  }

  /** Closes `chain` once no session uses it any more. */
  retire(chain: C): void {
    this.#retiring.add(chain);
    void this.#options.whenUnused(chain).then(() => {
      // Shutdown may have closed it meanwhile.
      if (this.#retiring.delete(chain)) return this.#close(chain);
    });
  }

  /** Closes `current` and every retired chain not closed yet (shutdown). */
  async closeAll(current: readonly C[]): Promise<void> {
    const chains = [...this.#retiring, ...current];
    this.#retiring.clear();
    for (const chain of chains) await this.#close(chain);
  }

  async #close(chain: Chain): Promise<void> {
    const { log, timeoutMs } = this.#options;
    for (const plugin of chain.plugins) {
      if (!plugin.close) continue;
      try {
        await withDeadline(
          Promise.resolve().then(() => plugin.close?.()),
          timeoutMs,
          () => new Error(`close() did not finish within ${timeoutMs} ms`),
        );
      } catch (error) {
        log.event("plugin_close_failed", {
          plugin: plugin.name,
          error: (error as Error).message ?? String(error),
        });
      }
    }
  }
}
