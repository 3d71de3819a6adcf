/**
 * The host API handed to plugins. Custom plugins receive it in their
 * default export, so they never import Postino's files by path and keep
 * working inside the compiled binary.
 *
 * @example A custom plugin file (`my_plugin.ts`)
 * ```ts
 * import type { PluginHost } from "postino";
 * export default (host: PluginHost) => ({
 *   name: "my_plugin",
 *   rcpt(_ctx, rcpt) {
 *     if (rcpt.mailbox.local === "noreply") return host.reject(550, "5.1.1", "No such user");
 *   },
 * });
 * ```
 *
 * @module
 */
import type { DirectoryEntry, Resolution } from "../store/directory.ts";
import { accept, disconnect, reject, tempfail } from "./decision.ts";
import type { Plugin, PluginLogger } from "./plugin.ts";

/** The read-only directory view plugins get. */
export interface DirectoryView {
  /** Where mail for `address` goes, or `undefined` if nowhere. */
  resolve(address: string): Resolution | undefined;
  /** Whether `address` is a local user. */
  isUser(address: string): boolean;
  // The lookups below serve VRFY and EXPN. They are optional so that views
  // written by hand (tests, embedders) stay valid; the server provides them.
  /** The user or alias at `address`, with its display name or private flag. */
  entry?(address: string): DirectoryEntry | undefined;
  /** Users and aliases with this local part, on any domain, sorted by address. */
  findByLocalPart?(local: string): DirectoryEntry[];
  /** Users whose display name contains `fragment` (ignoring case). */
  findByName?(fragment: string): DirectoryEntry[];
  /** An alias's direct members in order, or `undefined` when it is no alias. */
  aliasMembers?(address: string): string[] | undefined;
}

/** Everything a plugin may use from the server. */
export interface PluginHost {
  readonly accept: typeof accept;
  readonly reject: typeof reject;
  readonly tempfail: typeof tempfail;
  readonly disconnect: typeof disconnect;
  /** This plugin's options: its `[plugin.NAME]` table in the config. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly hostname: string;
  readonly domains: readonly string[];
  isLocalDomain(domain: string): boolean;
  readonly directory: DirectoryView;
  /** The data directory, for plugins that keep files. */
  readonly dataDir: string;
  readonly log: PluginLogger;
}

/** What a plugin file's default export may be. */
export type PluginExport = Plugin | ((host: PluginHost) => Plugin | Promise<Plugin>);

/** The decision constructors, for building a {@linkcode PluginHost}. */
export const DECISIONS = { accept, reject, tempfail, disconnect } as const;
