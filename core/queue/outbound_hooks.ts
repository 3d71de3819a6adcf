/**
 * Runs the plugins' outbound hooks for the scheduler: `route` picks each
 * recipient's deliverer (first answer wins, falling back to the default
 * routing), plugin `gateways` add deliverers, and `delivered`, `deferred`
 * and `bounce` observe outcomes. A `route` hook that throws or times out
 * defers the recipient (fail closed); observers never affect delivery.
 *
 * @module
 */
import type { OutboundContext, Plugin } from "../hooks/plugin.ts";
import { withDeadline } from "../deadline.ts";
import type { Logger } from "../log.ts";
import type { Deliverer, Failure, Route } from "./scheduler.ts";
import type {
  DeliveredOutcome,
  DueMessage,
  DueRecipient,
  Outcome,
  UndeliveredOutcome,
} from "./spool.ts";

/** Options for {@linkcode outboundHooks}. */
export interface OutboundHookOptions {
  /** The current plugin chain (it changes on reload). */
  plugins(): readonly Plugin[];
  /** Routing when no plugin decides. */
  fallback(message: DueMessage, recipient: DueRecipient): Route;
  /** Built-in deliverers by route name. */
  builtins: Readonly<Record<string, Deliverer>>;
  timeoutMs: number;
  log: Logger;
}

/** The scheduler callbacks backed by plugins. */
export interface OutboundHooks {
  route(message: DueMessage, recipient: DueRecipient): Promise<Route>;
  deliverer(via: string): Deliverer | undefined;
  observe(message: DueMessage, outcomes: readonly Outcome[]): void;
}

function withTimeout<T>(value: T | Promise<T>, ms: number, what: string): Promise<T> {
  if (!(value instanceof Promise)) return Promise.resolve(value);
  return withDeadline(value, ms, () => new Error(`${what} timed out after ${ms} ms`));
}

/** Builds the scheduler's route, deliverer and observe callbacks. */
export function outboundHooks(options: OutboundHookOptions): OutboundHooks {
  const context = (message: DueMessage, plugin: Plugin): OutboundContext => {
    const { recipients: _r, data, ...rest } = message;
    return {
      message: { ...rest, size: data.byteLength },
      log: {
        info: (text, fields) =>
          options.log.event("plugin", {
            plugin: plugin.name,
            id: message.id,
            message: text,
            ...fields,
          }),
        warn: (text, fields) =>
          options.log.event("plugin_warn", {
            plugin: plugin.name,
            id: message.id,
            message: text,
            ...fields,
          }),
      },
    };
  };
  const observeOne = (plugin: Plugin, hook: string, call: () => unknown) => {
    try {
      const result = call();
      if (result instanceof Promise) {
        withTimeout(result, options.timeoutMs, hook).catch((error) =>
          options.log.event("plugin_error", { plugin: plugin.name, hook, reason: String(error) })
        );
      }
    } catch (error) {
      options.log.event("plugin_error", { plugin: plugin.name, hook, reason: String(error) });
    }
  };

  return {
    async route(message, recipient) {
      for (const plugin of options.plugins()) {
        if (!plugin.route) continue;
        let answer;
        try {
          answer = await withTimeout(
            plugin.route(context(message, plugin), recipient),
            options.timeoutMs,
            "route",
          );
        } catch (error) {
          options.log.event("plugin_error", {
            plugin: plugin.name,
            hook: "route",
            reason: String(error),
          });
          throw error;
        }
        if (answer) {
          const domain = recipient.address.slice(recipient.address.lastIndexOf("@") + 1)
            .toLowerCase();
          return { via: answer.via, key: answer.key ?? domain };
        }
      }
      return options.fallback(message, recipient);
    },
    deliverer(via) {
      if (Object.hasOwn(options.builtins, via)) return options.builtins[via];
      for (const plugin of options.plugins()) {
        if (plugin.gateways && Object.hasOwn(plugin.gateways, via)) return plugin.gateways[via];
      }
      return undefined;
    },
    observe(message, outcomes) {
      const failures: Failure[] = [];
      for (const outcome of outcomes) {
        if (outcome.status !== "failed") continue;
        const recipient = message.recipients.find((r) => r.address === outcome.address);
        if (recipient) failures.push({ recipient, outcome });
      }
      for (const plugin of options.plugins()) {
        for (const outcome of outcomes) {
          if (outcome.status === "delivered" && plugin.delivered) {
            observeOne(
              plugin,
              "delivered",
              () => plugin.delivered?.(context(message, plugin), outcome as DeliveredOutcome),
            );
          } else if (outcome.status === "deferred" && plugin.deferred) {
            observeOne(
              plugin,
              "deferred",
              () => plugin.deferred?.(context(message, plugin), outcome as UndeliveredOutcome),
            );
          }
        }
        if (failures.length > 0 && plugin.bounce) {
          observeOne(plugin, "bounce", () => plugin.bounce?.(context(message, plugin), failures));
        }
      }
    },
  };
}
