/**
 * Who may ask VRFY and EXPN, and how often. Both commands tell a client
 * which names exist (RFC 5321 §7.3), so the `vrfy` and `expn` plugins share
 * these options:
 *
 * ```toml
 * [plugin.vrfy]            # or [plugin.expn]
 * require_auth = false     # true: only authenticated clients (or `networks`)
 * networks = ["10.0.0.0/8"] # clients allowed without AUTH; empty: anyone
 * per_minute = 10          # lookups per client address in any 60 s; 0: no limit
 * ```
 *
 * The refusals say nothing about the name asked for, so they leak nothing:
 *
 * - not authenticated while `require_auth` is on: `530 5.7.0 Authentication
 *   required` (RFC 4954 §6);
 * - outside `networks` (and not authenticated): `550 5.7.1 Not allowed`;
 * - over `per_minute`: `450 4.7.0 Too many lookups, slow down`, a transient
 *   refusal the client may retry (RFC 5321 §4.2.5; RFC 3463 §3.8: X.7.0 is a
 *   policy reason, as in `rate_limit`).
 *
 * An authenticated client may look up from anywhere, but still counts
 * against its address's rate. Each plugin keeps its own counts.
 *
 * @module
 */
import { isCidr } from "../core/config.ts";
import { type Decision, reject, tempfail } from "../core/hooks/decision.ts";
import type { HookContext } from "../core/hooks/plugin.ts";
import { SlidingWindow } from "./rate_limit.ts";
import { networkMatcher } from "./relay.ts";

/** The default of {@linkcode LookupAccessOptions.perMinute}. */
export const LOOKUPS_PER_MINUTE = 10;

const MINUTE = 60_000;
const MAX_TRACKED = 10_000;

/** Options for {@linkcode lookupAccess}. */
export interface LookupAccessOptions {
  /** Only authenticated clients (and those in `networks`) may look up. */
  requireAuth?: boolean;
  /** Client networks (`address/prefix`) allowed without AUTH; empty: anyone unless `requireAuth`. */
  networks?: readonly string[];
  /** Lookups per client address in any 60 s (0: no limit). */
  perMinute?: number;
  /** The clock in milliseconds (tests inject one). */
  now?: () => number;
}

/** Decides whether one lookup may go ahead: `undefined` if so, else the refusal. */
export type LookupGate = (ctx: HookContext) => Decision | undefined;

/** An IPv4-mapped IPv6 address counts as the IPv4 address it carries. */
function clientKey(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/**
 * Builds the gate. Throws a `TypeError` for bad options.
 *
 * @example
 * ```ts
 * const gate = lookupAccess({ requireAuth: true, networks: ["10.0.0.0/8"], perMinute: 5 });
 * const refusal = gate(ctx); // undefined: go ahead
 * ```
 */
export function lookupAccess(options: LookupAccessOptions = {}): LookupGate {
  const { requireAuth = false, networks = [], perMinute = LOOKUPS_PER_MINUTE } = options;
  if (!Number.isSafeInteger(perMinute) || perMinute < 0) {
    throw new TypeError("per_minute must be 0 or a positive integer");
  }
  for (const network of networks) {
    if (!isCidr(network)) throw new TypeError(`"${network}" is not an address/prefix`);
  }
  const trusted = networkMatcher(networks);
  const window = perMinute === 0 ? undefined : new SlidingWindow({
    limit: perMinute,
    windowMs: MINUTE,
    maxKeys: MAX_TRACKED,
    ...(options.now ? { now: options.now } : {}),
  });
  return (ctx) => {
    const key = clientKey(ctx.connection.remote.address);
    const allowed = ctx.connection.user !== undefined || trusted(key) ||
      (!requireAuth && networks.length === 0);
    if (!allowed) {
      return requireAuth
        ? reject(530, "5.7.0", "Authentication required")
        : reject(550, "5.7.1", "Not allowed");
    }
    if (window !== undefined && !window.take(key)) {
      ctx.log.warn("lookup rate exceeded", { ip: key });
      return tempfail(450, "4.7.0", "Too many lookups, slow down");
    }
    return undefined;
  };
}

/** The option names {@linkcode lookupAccessFromOptions} reads. */
export const ACCESS_OPTION_NAMES: readonly string[] = ["require_auth", "networks", "per_minute"];

/**
 * Builds the gate from a plugin's `[plugin.NAME]` table, ignoring options
 * that are not about access; throws naming a bad one.
 */
export function lookupAccessFromOptions(
  plugin: string,
  table: Readonly<Record<string, unknown>>,
): LookupGate {
  const options: LookupAccessOptions = {};
  const requireAuth = table["require_auth"];
  if (requireAuth !== undefined) {
    if (typeof requireAuth !== "boolean") {
      throw new Error(`plugin.${plugin}: require_auth must be true or false`);
    }
    options.requireAuth = requireAuth;
  }
  const networks = table["networks"];
  if (networks !== undefined) {
    if (!Array.isArray(networks) || !networks.every((n) => typeof n === "string")) {
      throw new Error(`plugin.${plugin}: networks must be an array of strings`);
    }
    options.networks = networks;
  }
  const perMinute = table["per_minute"];
  if (perMinute !== undefined) {
    if (typeof perMinute !== "number" && typeof perMinute !== "bigint") {
      throw new Error(`plugin.${plugin}: per_minute must be an integer`);
    }
    options.perMinute = Number(perMinute);
  }
  try {
    return lookupAccess(options);
  } catch (error) {
    throw new Error(`plugin.${plugin}: ${(error as Error).message}`);
  }
}
