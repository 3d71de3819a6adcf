/**
 * `expn`: answers EXPN with the members of a list (RFC 5321 §3.5.2,
 * §3.5.3). Opt-in (`--plugin expn` or `plugins = ["expn"]`); without it the
 * core answers `502 5.5.1`.
 *
 * Lists are the aliases managed with `postino alias`. The argument is the
 * list's address, or its bare local part when only one local domain has it:
 *
 * - a list: a multi-line `250 2.1.5`, one direct member a line, `Name
 *   <address>` for a member who is a user with a name, else `<address>`
 *   (nested lists show as their address, not expanded);
 * - a private list (`postino alias private ADDRESS on`): `550 5.7.1 List is
 *   private`;
 * - a plain user: `250 2.1.5` with the user alone (§3.5.2 allows it);
 * - a bare local part on several local domains: `553 5.1.4` with candidates;
 * - anything else, including an address on a domain that is not local:
 *   `550 5.1.1 No such list here`.
 *
 * The same access options as `vrfy` apply (`require_auth`, `networks`,
 * `per_minute`; see `lookup_access.ts`), checked before the list is read.
 *
 * ```toml
 * plugins = ["expn"]
 * [plugin.expn]
 * require_auth = true
 * networks = ["10.0.0.0/8"]
 * ```
 *
 * @module
 */
import { accept, reject } from "../core/hooks/decision.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import {
  ACCESS_OPTION_NAMES,
  lookupAccess,
  lookupAccessFromOptions,
  type LookupGate,
} from "./lookup_access.ts";
import { ambiguous, formatEntry, lookUp, type LookupDirectory, lookupDirectory } from "./vrfy.ts";

/** Options for {@linkcode expn}. */
export interface ExpnOptions {
  directory: LookupDirectory;
  isLocalDomain(domain: string): boolean;
  /** Who may ask; default: anyone, 10 lookups a minute per address. */
  access?: LookupGate;
}

/**
 * Creates the `expn` plugin.
 *
 * @example
 * ```ts
 * const plugin = expn({ directory, isLocalDomain: (d) => d === "example.org" });
 * ```
 */
export function expn(options: ExpnOptions): Plugin {
  const { directory } = options;
  const access = options.access ?? lookupAccess();
  return {
    name: "expn",
    expn(ctx, argument) {
      const refused = access(ctx);
      if (refused) return refused;
      // Lists are named by address or local part; display names are VRFY's.
      const found = lookUp(directory, (d) => options.isLocalDomain(d), argument, false);
      if (found.kind === "ambiguous") return ambiguous(found.entries);
      if (found.kind === "invalid") return reject(501, "5.1.3", "Bad address syntax");
      if (found.kind !== "found") return reject(550, "5.1.1", "No such list here");
      const { entry } = found;
      if (entry.kind === "user") return accept(250, "2.1.5", formatEntry(entry));
      if (entry.private) return reject(550, "5.7.1", "List is private");
      const members = (directory.aliasMembers(entry.address) ?? []).map((member) => {
        const known = directory.entry(member);
        return known ? formatEntry(known) : `<${member}>`;
      });
      // An alias loses its last member only by being removed; keep the reply well-formed anyway.
      return accept(250, "2.1.5", members.length > 0 ? members : [formatEntry(entry)]);
    },
  };
}

/** Builds `expn` from its `[plugin.expn]` table; throws naming a bad option. */
export function expnFromHost(
  host: Pick<PluginHost, "options" | "directory" | "isLocalDomain">,
): Plugin {
  for (const key of Object.keys(host.options)) {
    if (!ACCESS_OPTION_NAMES.includes(key)) {
      throw new Error(`plugin.expn: unknown option "${key}"`);
    }
  }
  return expn({
    directory: lookupDirectory("expn", host.directory),
    isLocalDomain: (d) => host.isLocalDomain(d),
    access: lookupAccessFromOptions("expn", host.options),
  });
}
