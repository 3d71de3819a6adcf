/**
 * `turn`: TURN and ATRN (On-Demand Mail Relay, RFC 2645), opt-in. A client
 * that holds a domain's mail here connects, authenticates, and turns the
 * connection around: we become the SMTP client and deliver it the mail
 * queued for its domains over the same TLS connection.
 *
 * - Bare `TURN` (RFC 821) let anyone claim to be a domain and take its mail.
 *   It is refused on port 25 (`502 5.5.1`) and whenever the client has not
 *   authenticated (`530 5.7.0`); after STARTTLS and AUTH on a submission or
 *   `odmr` listener it works as `ATRN` without arguments.
 * - `ATRN [domain[,domain]…]` (RFC 2645 §4.2) is announced in EHLO on
 *   submission and `odmr` listeners once TLS is up (that EHLO also offers
 *   AUTH, which ATRN needs first; RFC 2645 §4.1 wants both in one list).
 *   Without domains it collects every domain the user may collect.
 * - A user may collect the domain of their own address and the domains
 *   granted with `postino user grant ADDRESS DOMAIN`; never a local domain,
 *   whose mail is delivered here.
 * - Mail for `hold_domains` (`--hold-domain`) is accepted from anyone, as
 *   their MX, and held in the spool for collection instead of going out.
 *
 * Replies (RFC 2645 §4.2; enhanced codes from RFC 3463):
 *
 * - `250 2.0.0 OK now reversing the connection`, then the roles reverse:
 *   the client sends its 220 greeting and we say EHLO.
 * - `450 4.7.1 ATRN request refused`: a requested domain is not the user's.
 * - `451 4.3.0 Unable to process ATRN request now`: another collector holds
 *   those domains (one collector per domain at a time).
 * - `453 4.3.0 No messages waiting`.
 * - `501 5.5.4`: not a comma-separated list of domain names.
 * - `502 5.5.1`: on a port 25 listener.
 * - `503 5.5.1`: before EHLO or inside a mail transaction.
 * - `530 5.7.0 Authentication required`.
 *
 * ```toml
 * plugins = ["turn"]
 * odmr = ["0.0.0.0:366"]
 * hold_domains = ["example.net"]
 * ```
 *
 * @module
 */
import { accept, type Decision, handOver, reject, tempfail } from "../core/hooks/decision.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Connection, HookContext, Plugin } from "../core/hooks/plugin.ts";
import type { Collector } from "../core/delivery/reverse_delivery.ts";
import { asciiDomain } from "../core/delivery/mx.ts";

/** Options for {@linkcode turn}. */
export interface TurnOptions {
  /** Leases queued mail by domain and delivers it over a reversed connection. */
  collector: Collector;
  /** Domains a user may collect besides their own address's (`postino user grant`). */
  grants(user: string): readonly string[];
  /** Domains whose mail we accept from anyone and hold for collection. */
  holdDomains?: readonly string[];
  isLocalDomain(domain: string): boolean;
}

/**
 * Parses ATRN's argument (RFC 2645 §4.2: `ATRN [SP domain *("," domain)]`)
 * into lower-case ASCII domains; `[]` for none, `undefined` when malformed.
 *
 * @example
 * ```ts
 * parseAtrn("Example.NET,example.com"); // ["example.net", "example.com"]
 * parseAtrn("");                        // []
 * parseAtrn("a..b");                    // undefined
 * ```
 */
export function parseAtrn(argument: string): string[] | undefined {
  const text = argument.trim();
  if (text === "") return [];
  const domains: string[] = [];
  for (const part of text.split(",")) {
    const name = part.trim().replace(/\.$/, "");
    const domain = name === "" || /\s/.test(name) ? undefined : asciiDomain(name);
    if (domain === undefined) return undefined;
    domains.push(domain);
  }
  return [...new Set(domains)];
}

/** Whether ATRN may ever work on this connection's listener. */
function odmrListener(connection: Connection): boolean {
  return connection.listener === "submission" || connection.listener === "odmr";
}

/**
 * Creates the `turn` plugin.
 *
 * @example
 * ```ts
 * const plugin = turn({
 *   collector,
 *   grants: (user) => directory.grantedDomains(user),
 *   holdDomains: ["example.net"],
 *   isLocalDomain: (d) => d === "example.org",
 * });
 * ```
 */
export function turn(options: TurnOptions): Plugin {
  const hold = new Set((options.holdDomains ?? []).map((d) => asciiDomain(d) ?? d.toLowerCase()));

  /** The domains `user` may collect: their own and their grants, never a local one. */
  const collectable = (user: string): Set<string> => {
    const own = user.includes("@") ? user.slice(user.lastIndexOf("@") + 1) : "";
    const names = [own, ...options.grants(user)].flatMap((d) => {
      const domain = d === "" ? undefined : asciiDomain(d);
      return domain === undefined || options.isLocalDomain(domain) ? [] : [domain];
    });
    return new Set(names);
  };

  /** ATRN, and TURN once authenticated, which is ATRN for all the user's domains. */
  const atrn = (ctx: HookContext, verb: string, argument: string): Decision => {
    const { connection } = ctx;
    if (connection.helo === undefined) return reject(503, "5.5.1", "Send EHLO first");
    if (ctx.transaction !== undefined) {
      return reject(503, "5.5.1", `${verb} not allowed during a mail transaction`);
    }
    // Port 25 never turns around: that was RFC 821 TURN's spoofing hole.
    if (!odmrListener(connection)) return reject(502, "5.5.1", `${verb} not available here`);
    const user = connection.user;
    if (connection.tls === undefined || user === undefined) {
      return reject(530, "5.7.0", "Authentication required");
    }
    const requested = parseAtrn(argument);
    if (requested === undefined) return reject(501, "5.5.4", "Syntax: ATRN [domain[,domain]...]");
    const allowed = collectable(user);
    const refused = requested.filter((d) => !allowed.has(d));
    if (refused.length > 0 || allowed.size === 0) {
      ctx.log.warn("atrn refused", {
        user,
        domains: (refused.length ? refused : requested).join(","),
      });
      return tempfail(450, "4.7.1", "ATRN request refused");
    }
    const domains = requested.length > 0 ? requested : [...allowed];
    const collection = options.collector.take(domains);
    if (collection.messages === 0) {
      if (collection.domains.length === 0 && collection.busy.length > 0) {
        return tempfail(451, "4.3.0", "Unable to process ATRN request now");
      }
      return tempfail(453, "4.3.0", "No messages waiting");
    }
    ctx.log.info("atrn", {
      user,
      domains: collection.domains.join(","),
      messages: collection.messages,
      ...(collection.busy.length > 0 ? { busy: collection.busy.join(",") } : {}),
    });
    return handOver(
      accept(250, "2.0.0", "OK now reversing the connection"),
      (conn) => collection.deliver(conn),
    );
  };

  return {
    name: "turn",
    verbs: {
      ATRN: {
        help: "ATRN [domain[,domain]...]: reverse the connection and collect queued mail",
        ehlo: "ATRN",
        ehloWhen: (connection) => connection.tls !== undefined && odmrListener(connection),
      },
    },
    rcpt(_ctx, recipient) {
      // RFC 2645 §3: we are the held domain's MX and keep its mail for collection.
      const domain = asciiDomain(recipient.mailbox.domain) ?? recipient.mailbox.domain;
      return hold.has(domain.toLowerCase()) ? accept() : undefined;
    },
    turn(ctx) {
      if (!odmrListener(ctx.connection)) return reject(502, "5.5.1", "TURN not available here");
      return atrn(ctx, "TURN", "");
    },
    unknown_command(ctx, { verb, argument }) {
      return verb === "ATRN" ? atrn(ctx, verb, argument) : undefined;
    },
  };
}

/** Builds `turn` from the server's collector, grants and hold domains; it takes no options. */
export function turnFromHost(
  host: Pick<PluginHost, "options" | "isLocalDomain">,
  deps: {
    collector: Collector;
    grants(user: string): readonly string[];
    holdDomains: readonly string[];
  },
): Plugin {
  for (const key of Object.keys(host.options)) {
    throw new Error(`plugin.turn: unknown option "${key}"`);
  }
  return turn({
    collector: deps.collector,
    grants: (user) => deps.grants(user),
    holdDomains: deps.holdDomains,
    isLocalDomain: (d) => host.isLocalDomain(d),
  });
}
