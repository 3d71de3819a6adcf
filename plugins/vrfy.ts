/**
 * `vrfy`: answers VRFY from the directory (RFC 5321 §3.5.1, §3.5.3).
 * Opt-in (`--plugin vrfy` or `plugins = ["vrfy"]`); without it the core
 * answers every VRFY with `252 2.5.0`.
 *
 * The argument may be an address (`alice@example.org`, `<alice@example.org>`),
 * a bare local part (`alice`, looked up on every local domain) or a fragment
 * of a user's display name (`Smith`):
 *
 * - one local user or alias: `250 2.1.5 Alice Smith <alice@example.org>`
 *   (the name when the user has one, else `<alice@example.org>`);
 * - several: a multi-line `553 5.1.4 Ambiguous; possibilities are` with one
 *   candidate a line, as RFC 5321 §3.5.3 shows;
 * - nothing: `550 5.1.1 No such user here`;
 * - an address on a domain that is not local: `252 2.1.5 Cannot VRFY user,
 *   but will accept message and attempt delivery`, or with
 *   `non_local = "551"`, `551 5.1.6 User not local` (RFC 5321 §3.4);
 * - an address that cannot be one: `501 5.1.3 Bad address syntax`.
 *
 * Access (`require_auth`, `networks`, `per_minute`) is checked first, before
 * the name is even read; see `lookup_access.ts`.
 *
 * ```toml
 * plugins = ["vrfy"]
 * [plugin.vrfy]
 * non_local = "252"   # or "551"
 * require_auth = true
 * ```
 *
 * @module
 */
import { accept, type Decision, reject } from "../core/hooks/decision.ts";
import type { DirectoryView, PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import { reply } from "../core/smtp/reply.ts";
import { isValidMailboxAddress, normalizeAddress, splitAddress } from "../core/store/address.ts";
import type { DirectoryEntry } from "../core/store/directory.ts";
import {
  ACCESS_OPTION_NAMES,
  lookupAccess,
  lookupAccessFromOptions,
  type LookupGate,
} from "./lookup_access.ts";

/** The directory lookups VRFY and EXPN need. */
export type LookupDirectory = Required<
  Pick<DirectoryView, "entry" | "findByLocalPart" | "findByName" | "aliasMembers">
>;

/** At most this many candidates are listed in a 553 reply. */
export const MAX_CANDIDATES = 20;

/** What one VRFY or EXPN argument names. */
export type Lookup =
  | { kind: "found"; entry: DirectoryEntry }
  | { kind: "ambiguous"; entries: DirectoryEntry[] }
  | { kind: "unknown" }
  | { kind: "remote"; address: string }
  | { kind: "invalid" };

/** The directory view with its lookups, or an error naming the plugin when it has none. */
export function lookupDirectory(plugin: string, directory: DirectoryView): LookupDirectory {
  const { entry, findByLocalPart, findByName, aliasMembers } = directory;
  if (!entry || !findByLocalPart || !findByName || !aliasMembers) {
    throw new Error(`plugin.${plugin}: the host's directory cannot look names up`);
  }
  return {
    entry: (a) => entry.call(directory, a),
    findByLocalPart: (l) => findByLocalPart.call(directory, l),
    findByName: (f) => findByName.call(directory, f),
    aliasMembers: (a) => aliasMembers.call(directory, a),
  };
}

const LOCAL_PART = /^[^\s@<>"]+$/;

/**
 * Works out what `argument` names: an address, a bare local part on any
 * local domain, or (with `byName`) a display-name fragment.
 *
 * @example
 * ```ts
 * lookUp(directory, (d) => d === "example.org", "<alice@example.org>", true);
 * // { kind: "found", entry: { kind: "user", address: "alice@example.org", name: "Alice" } }
 * ```
 */
export function lookUp(
  directory: LookupDirectory,
  isLocalDomain: (domain: string) => boolean,
  argument: string,
  byName: boolean,
): Lookup {
  const text = argument.trim().replace(/^<(.*)>$/, "$1").trim();
  const onLocalDomain = (e: DirectoryEntry) => isLocalDomain(splitAddress(e.address).domain);
  if (text.includes("@")) {
    const address = normalizeAddress(text);
    if (!isValidMailboxAddress(address)) return { kind: "invalid" };
    const { local, domain } = splitAddress(address);
    if (!isLocalDomain(domain)) return { kind: "remote", address };
    const entry = directory.entry(address);
    if (entry !== undefined) return { kind: "found", entry };
    // postmaster@ a local domain always exists (RFC 5321 §4.5.1).
    if (local === "postmaster") {
      return { kind: "found", entry: { kind: "user", address, name: undefined } };
    }
    return { kind: "unknown" };
  }
  if (text === "") return { kind: "invalid" };
  const byLocal = LOCAL_PART.test(text)
    ? directory.findByLocalPart(text).filter(onLocalDomain)
    : [];
  const found = byLocal.length > 0 || !byName
    ? byLocal
    : directory.findByName(text).filter(onLocalDomain);
  const [first] = found;
  if (first === undefined) return { kind: "unknown" };
  return found.length === 1
    ? { kind: "found", entry: first }
    : { kind: "ambiguous", entries: found };
}

/** `Name <address>` when `entry` is a user with a name, else `<address>`. */
export function formatEntry(entry: DirectoryEntry): string {
  return entry.kind === "user" && entry.name !== undefined && entry.name !== ""
    ? `${entry.name} <${entry.address}>`
    : `<${entry.address}>`;
}

/**
 * `553 5.1.4` listing the candidates, one a line (RFC 5321 §3.5.3). Built
 * by hand because `reject()` takes one line of text.
 */
export function ambiguous(entries: readonly DirectoryEntry[]): Decision {
  const lines = [
    "Ambiguous; possibilities are",
    ...entries.slice(0, MAX_CANDIDATES).map(formatEntry),
  ];
  if (entries.length > MAX_CANDIDATES) lines.push(`and ${entries.length - MAX_CANDIDATES} more`);
  return { kind: "reject", reply: reply(553, "5.1.4", lines) };
}

/** How VRFY answers an address on a domain that is not local. */
export type NonLocalPolicy = "252" | "551";

/** Options for {@linkcode vrfy}. */
export interface VrfyOptions {
  directory: LookupDirectory;
  isLocalDomain(domain: string): boolean;
  /** `252` (default): will accept mail for it; `551`: user not local. */
  nonLocal?: NonLocalPolicy;
  /** Who may ask; default: anyone, 10 lookups a minute per address. */
  access?: LookupGate;
}

/**
 * Creates the `vrfy` plugin.
 *
 * @example
 * ```ts
 * const plugin = vrfy({ directory, isLocalDomain: (d) => d === "example.org", nonLocal: "551" });
 * ```
 */
export function vrfy(options: VrfyOptions): Plugin {
  const { directory, nonLocal = "252" } = options;
  const access = options.access ?? lookupAccess();
  return {
    name: "vrfy",
    vrfy(ctx, argument) {
      const refused = access(ctx);
      if (refused) return refused;
      const found = lookUp(directory, (d) => options.isLocalDomain(d), argument, true);
      switch (found.kind) {
        case "found":
          return accept(250, "2.1.5", formatEntry(found.entry));
        case "ambiguous":
          return ambiguous(found.entries);
        case "unknown":
          return reject(550, "5.1.1", "No such user here");
        case "invalid":
          return reject(501, "5.1.3", "Bad address syntax");
        case "remote":
          return nonLocal === "551" ? reject(551, "5.1.6", "User not local") : accept(
            252,
            "2.1.5",
            "Cannot VRFY user, but will accept message and attempt delivery",
          );
      }
    },
  };
}

/** Builds `vrfy` from its `[plugin.vrfy]` table; throws naming a bad option. */
export function vrfyFromHost(
  host: Pick<PluginHost, "options" | "directory" | "isLocalDomain">,
): Plugin {
  for (const key of Object.keys(host.options)) {
    if (key !== "non_local" && !ACCESS_OPTION_NAMES.includes(key)) {
      throw new Error(`plugin.vrfy: unknown option "${key}"`);
    }
  }
  const raw = host.options["non_local"];
  const nonLocal = raw === undefined ? "252" : String(raw);
  if (nonLocal !== "252" && nonLocal !== "551") {
    throw new Error(`plugin.vrfy: non_local must be "252" or "551"`);
  }
  return vrfy({
    directory: lookupDirectory("vrfy", host.directory),
    isLocalDomain: (d) => host.isLocalDomain(d),
    nonLocal,
    access: lookupAccessFromOptions("vrfy", host.options),
  });
}
