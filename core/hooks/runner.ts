/**
 * Runs one hook across the plugins in order. The first decision wins; a
 * plugin that throws, times out or returns nonsense fails closed
 * (451 4.3.0) and the log names it. The server never crashes on a plugin.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { type Decision, PLUGIN_FAILURE } from "./decision.ts";
import type {
  Connection,
  HookContext,
  HookName,
  Plugin,
  PluginLogger,
  Transaction,
} from "./plugin.ts";

/** The arguments a hook takes after its context. */
export type HookArgs<K extends HookName> = NonNullable<Plugin[K]> extends (
  ctx: HookContext,
  ...args: infer A
) => unknown ? A
  : never;

/** What the session hands the runner for each call. */
export interface HookScope {
  connection: Connection;
  transaction: Transaction | undefined;
  /** Per-plugin state for this connection. */
  states: Map<Plugin, unknown>;
}

class HookTimeout extends Error {}

/**
 * Sees how long each plugin hook call took, in seconds (metrics). It is
 * called on the hot path, so it must be cheap and must not throw.
 */
export type HookTiming = (plugin: string, hook: string, seconds: number) => void;

/** Options for {@linkcode HookRunner}. */
export interface HookRunnerOptions {
  timeoutMs: number;
  log: Logger;
  /** Called after every hook call a plugin implements. */
  timing?: HookTiming;
}

const KINDS = new Set(["accept", "reject", "tempfail", "disconnect"]);

function isDecision(value: unknown): value is Decision {
  return typeof value === "object" && value !== null &&
    KINDS.has((value as { kind?: unknown }).kind as string);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** The ordered plugin chain of one server configuration. */
export class HookRunner {
  readonly plugins: readonly Plugin[];
  #timeoutMs: number;
  #log: Logger;
  #timing: HookTiming | undefined;

  constructor(plugins: readonly Plugin[], options: HookRunnerOptions) {
    this.plugins = plugins;
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.log;
    this.#timing = options.timing;
  }

  /** Fresh per-connection state for every plugin that keeps some. */
  createStates(): Map<Plugin, unknown> {
    const states = new Map<Plugin, unknown>();
    for (const plugin of this.plugins) {
      if (plugin.createState) states.set(plugin, plugin.createState());
    }
    return states;
  }

  /** Whether any plugin implements `hook` (HELP lists only usable verbs). */
  has(hook: HookName): boolean {
    return this.plugins.some((p) => typeof p[hook] === "function");
  }

  /** Runs `hook` until a plugin decides; `undefined` if none did. */
  async run<K extends HookName>(
    hook: K,
    scope: HookScope,
    ...args: HookArgs<K>
  ): Promise<Decision | undefined> {
    for (const plugin of this.plugins) {
      const decision = await this.#call(plugin, hook, scope, args);
      if (decision) return decision;
    }
    return undefined;
  }

  /** Runs an informational hook on every plugin, ignoring decisions. */
  async notify<K extends HookName>(hook: K, scope: HookScope, ...args: HookArgs<K>): Promise<void> {
    for (const plugin of this.plugins) await this.#call(plugin, hook, scope, args);
  }

  async #call(
    plugin: Plugin,
    hook: HookName,
    scope: HookScope,
    args: unknown[],
  ): Promise<Decision | undefined> {
    const fn = plugin[hook] as ((ctx: HookContext, ...a: unknown[]) => unknown) | undefined;
    if (typeof fn !== "function") return undefined;
    const ctx: HookContext = {
      connection: scope.connection,
      transaction: scope.transaction,
      state: scope.states.get(plugin),
      log: this.#pluginLogger(plugin, scope.connection.id),
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = this.#timing === undefined ? 0 : performance.now();
    try {
      let result = fn.call(plugin, ctx, ...args);
      // Only a pending answer needs a timer; most hooks answer synchronously.
      if (isThenable(result)) {
        result = await Promise.race([
          result,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new HookTimeout()), this.#timeoutMs);
          }),
        ]);
      }
      if (ctx.state !== undefined) scope.states.set(plugin, ctx.state);
      if (result === undefined) return undefined;
      if (isDecision(result)) return result;
      this.#fail(plugin, hook, scope.connection.id, "returned something that is not a decision");
    } catch (error) {
      const reason = error instanceof HookTimeout
        ? `timed out after ${this.#timeoutMs} ms`
        : error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
      this.#fail(plugin, hook, scope.connection.id, reason);
    } finally {
      clearTimeout(timer);
      this.#timing?.(plugin.name, hook, (performance.now() - started) / 1000);
    }
    return PLUGIN_FAILURE;
  }

  #fail(plugin: Plugin, hook: string, conn: string, reason: string): void {
    this.#log.event("plugin_error", { conn, plugin: plugin.name, hook, reason });
  }

  #pluginLogger(plugin: Plugin, conn: string): PluginLogger {
    return {
      info: (message, fields) =>
        this.#log.event("plugin", { conn, plugin: plugin.name, message, ...fields }),
      warn: (message, fields) =>
        this.#log.event("plugin_warn", { conn, plugin: plugin.name, message, ...fields }),
    };
  }
}
