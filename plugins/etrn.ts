/**
 * `etrn`: the ETRN verb (RFC 1985), opt-in. `ETRN example.net` makes the
 * mail queued for that domain due now and wakes the scheduler, which
 * delivers it over a new connection to the domain's MX (or `[transport]`
 * hop), exactly as a retry would; the reply does not wait for delivery
 * (RFC 1985 §5: "this command should return immediately").
 *
 * - `ETRN domain`: the recipients at that domain.
 * - `ETRN @domain`: the domain and all its subdomains (RFC 1985 §5).
 * - `ETRN #queue`: the queue name is taken as a domain; Postino keeps no
 *   other named queues.
 *
 * Replies (RFC 1985 §5; enhanced codes from RFC 3463):
 *
 * - `253 2.0.0 <n> pending messages for node <d> started`: mail was waiting
 *   and will go out now; `n` counts messages.
 * - `251 2.0.0 No messages waiting for <d>`: nothing queued (or only held).
 * - `458 4.0.0 Unable to queue messages for <d>`: the spool failed.
 * - `458 4.7.0 Too many ETRN requests, try again later`: over `per_minute`
 *   for this client address.
 * - `459 4.7.1 <d>: node not allowed`: a local domain, or not in `domains`.
 * - `501 5.5.4 Syntax: ETRN [@|#]domain`: no argument, several, or not a
 *   domain name.
 * - `503 5.5.1`: before HELO/EHLO, or inside MAIL…DATA.
 *
 * 253 rather than 250 or 252, because we know the count and the client may
 * want it. 459 carries 4.7.1, not 5.7.1: RFC 3463 requires the enhanced
 * class to match the reply's first digit, and 459 is a 4yz reply. The rate
 * limit answers 458, the RFC 1985 code for "cannot start the queue now",
 * which ETRN clients already treat as "try later".
 *
 * A plugin verb reaches plugins through `unknown_command`, so the sequence
 * and syntax checks (503, 501) are made here, before any work; the session
 * cannot know ETRN's grammar.
 *
 * ```toml
 * plugins = ["etrn"]
 * [plugin.etrn]
 * per_minute = 5                  # ETRN runs per client address per minute (0: no limit)
 * domains = ["example.net"]       # optional allow-list; an entry also allows its subdomains
 * ```
 *
 * @module
 */
import { accept, type Decision, reject, tempfail } from "../core/hooks/decision.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import { asciiDomain } from "../core/delivery/mx.ts";
import type { Spool } from "../core/queue/spool.ts";
import { SlidingWindow } from "./rate_limit.ts";

/** The defaults of {@linkcode etrn}. */
export const ETRN_DEFAULTS = { perMinute: 5, maxTracked: 10_000 } as const;

const MINUTE = 60_000;

/** Options for {@linkcode etrn}. */
export interface EtrnOptions {
  /** The spool whose recipients ETRN makes due. */
  spool: Pick<Spool, "flush" | "list">;
  /** Wakes the scheduler so the due mail goes out now, not at the next poll. */
  queued(): void;
  isLocalDomain(domain: string): boolean;
  /** Nodes that may be started (each with its subdomains); absent: any non-local domain. */
  domains?: readonly string[];
  /** ETRN runs per client address in any 60 s (0: no limit). */
  perMinute?: number;
  /** Client addresses remembered at most by the rate limit. */
  maxTracked?: number;
  /** The clock in milliseconds (tests inject one). */
  now?: () => number;
}

/** A parsed ETRN argument. */
export interface EtrnRequest {
  /** The node name in lower-case ASCII (IDN in punycode), without a final dot. */
  node: string;
  /** `@node`: the node's subdomains too. */
  subdomains: boolean;
}

/**
 * Parses `ETRN`'s argument (RFC 1985 §5.1): `[@|#]domain`, one word.
 * Returns undefined when it is not that.
 *
 * @example
 * ```ts
 * parseEtrn("@Example.NET"); // { node: "example.net", subdomains: true }
 * parseEtrn("#example.net"); // { node: "example.net", subdomains: false }
 * parseEtrn("[192.0.2.1]");  // undefined
 * ```
 */
export function parseEtrn(argument: string): EtrnRequest | undefined {
  const word = argument.trim();
  if (word === "" || /\s/.test(word)) return undefined;
  const option = word[0] === "@" || word[0] === "#" ? word[0] : "";
  const name = word.slice(option.length).replace(/\.$/, "");
  const node = name === "" ? undefined : asciiDomain(name);
  return node === undefined ? undefined : { node, subdomains: option === "@" };
}

/** The domain of a spool address, comparable with a parsed node. */
function domainOf(address: string): string {
  const domain = address.slice(address.lastIndexOf("@") + 1);
  return asciiDomain(domain) ?? domain.toLowerCase();
}

const within = (domain: string, parent: string) =>
  domain === parent || domain.endsWith(`.${parent}`);

/** An IPv4-mapped IPv6 address counts as the IPv4 address it carries, as in `rate_limit`. */
function clientKey(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/**
 * Creates the `etrn` plugin. Throws a `TypeError` for bad options.
 *
 * @example
 * ```ts
 * const plugin = etrn({
 *   spool,
 *   queued: () => scheduler.wake(),
 *   isLocalDomain: (d) => d === "example.org",
 *   domains: ["example.net"],
 * });
 * ```
 */
export function etrn(options: EtrnOptions): Plugin {
  const { perMinute = ETRN_DEFAULTS.perMinute, maxTracked = ETRN_DEFAULTS.maxTracked } = options;
  if (!Number.isSafeInteger(perMinute) || perMinute < 0) {
    throw new TypeError("etrn: perMinute must be 0 or a positive integer");
  }
  if (!Number.isSafeInteger(maxTracked) || maxTracked <= 0) {
    throw new TypeError("etrn: maxTracked must be a positive integer");
  }
  const allowed = options.domains?.map((entry) => {
    const name = asciiDomain(entry.replace(/^\./, ""));
    if (name === undefined) throw new TypeError(`etrn: "${entry}" is not a domain`);
    return name;
  });
  const window = perMinute === 0 ? undefined : new SlidingWindow({
    limit: perMinute,
    windowMs: MINUTE,
    maxKeys: maxTracked,
    ...(options.now ? { now: options.now } : {}),
  });

  /** Makes the node's mail due now; returns how many messages will go out. */
  const start = ({ node, subdomains }: EtrnRequest): number => {
    const domains = new Set<string>();
    const messages = new Set<string>();
    for (const message of options.spool.list()) {
      // A held message stays held: ETRN must not release what an admin stopped.
      if (message.held) continue;
      for (const r of message.recipients) {
        if (r.state !== "queued") continue;
        const domain = domainOf(r.address);
        if (subdomains ? !within(domain, node) : domain !== node) continue;
        if (options.isLocalDomain(domain)) continue;
        domains.add(r.address.slice(r.address.lastIndexOf("@") + 1));
        messages.add(message.id);
      }
    }
    let flushed = 0;
    for (const domain of domains) flushed += options.spool.flush({ domain });
    return flushed === 0 ? 0 : messages.size;
  };

  return {
    name: "etrn",
    verbs: {
      ETRN: {
        help: "ETRN [@|#]<domain>: start delivery of mail queued for a domain",
        ehlo: "ETRN",
      },
    },
    unknown_command(ctx, { verb, argument }): Decision | undefined {
      if (verb !== "ETRN") return undefined;
      if (ctx.connection.helo === undefined) return reject(503, "5.5.1", "Send HELO/EHLO first");
      // RFC 1985 §5: ETRN starts another queue run, not part of this transaction.
      if (ctx.transaction !== undefined) {
        return reject(503, "5.5.1", "ETRN not allowed during a mail transaction");
      }
      const request = parseEtrn(argument);
      if (request === undefined) return reject(501, "5.5.4", "Syntax: ETRN [@|#]domain");
      const { node } = request;
      // Mail for our own domains is delivered locally: there is no queue to start.
      if (options.isLocalDomain(node) || (allowed && !allowed.some((a) => within(node, a)))) {
        return tempfail(459, "4.7.1", `${node}: node not allowed`);
      }
      const ip = clientKey(ctx.connection.remote.address);
      if (window && !window.take(ip)) {
        ctx.log.warn("etrn rate exceeded", { ip });
        return tempfail(458, "4.7.0", "Too many ETRN requests, try again later");
      }
      let messages: number;
      try {
        messages = start(request);
      } catch (error) {
        ctx.log.warn("etrn flush failed", { node, error: String(error) });
        return tempfail(458, "4.0.0", `Unable to queue messages for ${node}`);
      }
      if (messages === 0) return accept(251, "2.0.0", `No messages waiting for ${node}`);
      options.queued();
      ctx.log.info("etrn started", { node, messages, ip });
      return accept(253, "2.0.0", `${messages} pending messages for node ${node} started`);
    },
  };
}

/**
 * Builds `etrn` from its `[plugin.etrn]` table and the server's spool;
 * throws naming a bad option.
 */
export function etrnFromHost(
  host: Pick<PluginHost, "options" | "isLocalDomain">,
  deps: { spool: Pick<Spool, "flush" | "list">; queued(): void },
): Plugin {
  const options: EtrnOptions = {
    spool: deps.spool,
    queued: () => deps.queued(),
    isLocalDomain: (d) => host.isLocalDomain(d),
  };
  for (const [key, value] of Object.entries(host.options)) {
    if (key === "domains") {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw new Error("plugin.etrn: domains must be an array of strings");
      }
      options.domains = value;
    } else if (key === "per_minute" || key === "max_tracked") {
      if (typeof value !== "number" && typeof value !== "bigint") {
        throw new Error(`plugin.etrn: ${key} must be an integer`);
      }
      options[key === "per_minute" ? "perMinute" : "maxTracked"] = Number(value);
    } else {
      throw new Error(`plugin.etrn: unknown option "${key}"`);
    }
  }
  try {
    return etrn(options);
  } catch (error) {
    throw new Error(`plugin.${(error as Error).message}`);
  }
}
