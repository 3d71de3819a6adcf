/**
 * Builds the plugin chain: the configured plugins first, in order, then the
 * built-ins (`rate_limit`, `sender_login`, `rcpt_local`, `relay`, `spool`)
 * that are not already listed. A custom policy plugin can therefore refuse anything.
 *
 * @module
 */
import type { PluginSpec } from "../core/config.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import type { Spool } from "../core/queue/spool.ts";
import type { TerminalHub } from "../core/terminal/hub.ts";
import { dnsblFromHost } from "./dnsbl.ts";
import { etrnFromHost } from "./etrn.ts";
import { expnFromHost } from "./expn.ts";
import { heloCheckFromHost } from "./helo_check.ts";
import { importPluginFile, isPluginPath } from "./loader.ts";
import { rateLimitFromHost } from "./rate_limit.ts";
import { rcptLocal } from "./rcpt_local.ts";
import { relay } from "./relay.ts";
import { senderLogin } from "./sender_login.ts";
import { spool, type SpoolPluginOptions } from "./spool.ts";
import { turnFromHost } from "./turn.ts";
import type { Collector } from "../core/delivery/reverse_delivery.ts";
import { terminalFromHost } from "./terminal.ts";
import { vrfyFromHost } from "./vrfy.ts";

/** Server-side objects built-in plugins need beyond the host API. */
export interface BuiltinDeps {
  spool: Omit<SpoolPluginOptions, "directory" | "isLocalDomain">;
  /** Trusted client networks for `relay`. */
  relayNetworks: readonly string[];
  /** Whether the default chain checks authenticated senders (`sender_login`). */
  senderLoginCheck?: boolean;
  /** The spool's queue controls, for `etrn`. */
  queue?: Pick<Spool, "flush" | "list">;
  /** Hands queued mail to ATRN collectors, for `turn`. */
  collector?: Collector;
  /** The domains a user may collect besides their own (`postino user grant`), for `turn`. */
  grants?(user: string): readonly string[];
  /** Domains whose mail is held for ATRN (`hold_domains`), for `turn`. */
  holdDomains?: readonly string[];
  /** Open terminals (`postino watch`), for `terminal`. */
  terminals?: Pick<TerminalHub, "has" | "deliver">;
}

type Builtin = (host: PluginHost, deps: BuiltinDeps) => Plugin;

/** Built-in plugins by name. */
export const BUILTINS: Readonly<Record<string, Builtin>> = {
  dnsbl: (host) => dnsblFromHost(host),
  etrn: (host, deps) => {
    if (!deps.queue) throw new Error("plugin etrn: this server has no spool to start");
    return etrnFromHost(host, { spool: deps.queue, queued: () => deps.spool.queued() });
  },
  expn: (host) => expnFromHost(host),
  helo_check: (host) => heloCheckFromHost(host),
  rate_limit: (host) => rateLimitFromHost(host),
  rcpt_local: (host) =>
    rcptLocal({ directory: host.directory, isLocalDomain: (d) => host.isLocalDomain(d) }),
  sender_login: (host) => senderLogin({ directory: host.directory }),
  relay: (host, deps) =>
    relay({ isLocalDomain: (d) => host.isLocalDomain(d), networks: deps.relayNetworks }),
  spool: (host, deps) =>
    spool({
      ...deps.spool,
      directory: host.directory,
      isLocalDomain: (d) => host.isLocalDomain(d),
    }),
  terminal: (host, deps) => terminalFromHost(host, deps),
  turn: (host, deps) => {
    if (!deps.collector) throw new Error("plugin turn: this server has no spool to collect from");
    return turnFromHost(host, {
      collector: deps.collector,
      grants: (user) => deps.grants?.(user) ?? [],
      holdDomains: deps.holdDomains ?? [],
    });
  },
  vrfy: (host) => vrfyFromHost(host),
};

/**
 * The plugins every chain gets unless the config lists them itself:
 * `rate_limit` (default limits) and the acceptors that end every chain.
 */
export const DEFAULT_CHAIN = ["rate_limit", "sender_login", "rcpt_local", "relay", "spool"];

/** Loads every plugin of the chain; throws naming the first bad one. */
export async function buildChain(
  specs: readonly PluginSpec[],
  hostFor: (spec: PluginSpec) => PluginHost,
  deps: BuiltinDeps,
  options: Readonly<Record<string, Record<string, unknown>>> = {},
): Promise<Plugin[]> {
  const listed = new Set(specs.map((s) => s.name));
  const all = [
    ...specs,
    ...DEFAULT_CHAIN
      .filter((name) =>
        !listed.has(name) && (name !== "sender_login" || deps.senderLoginCheck !== false)
      )
      // Built-ins that run by default still take their [plugin.NAME] table.
      .map((name) => ({ name, options: options[name] ?? {} })),
  ];
  const chain: Plugin[] = [];
  for (const spec of all) {
    const host = hostFor(spec);
    if (isPluginPath(spec.name)) {
      chain.push(await importPluginFile(spec.name, host));
      continue;
    }
    const builtin = Object.hasOwn(BUILTINS, spec.name) ? BUILTINS[spec.name] : undefined;
    if (!builtin) throw new Error(`unknown plugin "${spec.name}"`);
    chain.push(builtin(host, deps));
  }
  return chain;
}
