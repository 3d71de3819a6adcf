/**
 * `rcpt_local`: accepts recipients that are local users or aliases, and
 * postmaster of every local domain (RFC 5321 §4.5.1). Unknown local
 * addresses fall through to the core's 550 5.1.1.
 *
 * @module
 */
import { accept, reject } from "../core/hooks/decision.ts";
import type { DirectoryView } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";

/** Options for {@linkcode rcptLocal}. */
export interface RcptLocalOptions {
  directory: DirectoryView;
  isLocalDomain(domain: string): boolean;
}

/** Creates the `rcpt_local` plugin. */
export function rcptLocal(options: RcptLocalOptions): Plugin {
  return {
    name: "rcpt_local",
    rcpt(_ctx, recipient) {
      if (!options.isLocalDomain(recipient.mailbox.domain)) return undefined;
      const where = options.directory.resolve(recipient.mailbox.address);
      if (!where) return undefined;
      // Remote members are forwarded through the outgoing queue.
      if (where.mailboxes.length === 0 && where.remote.length === 0) {
        return reject(550, "5.1.1", "Recipient address rejected: no mailbox");
      }
      return accept();
    },
  };
}
