/**
 * `relay`: refuses recipients outside the local domains. Postino is never an
 * open relay; authenticated and trusted-network relaying come later.
 *
 * @module
 */
import { reject } from "../core/hooks/decision.ts";
import type { Plugin } from "../core/hooks/plugin.ts";

/** Options for {@linkcode relay}. */
export interface RelayOptions {
  isLocalDomain(domain: string): boolean;
}

/** Creates the `relay` plugin. */
export function relay(options: RelayOptions): Plugin {
  return {
    name: "relay",
    rcpt(_ctx, recipient) {
      if (options.isLocalDomain(recipient.mailbox.domain)) return undefined;
      return reject(550, "5.7.1", "Relay access denied");
    },
  };
}
