/**
 * `relay`: decides recipients outside the local domains. Only trusted
 * clients may relay: those from `relay_networks` and authenticated users.
 * Everyone else gets 550 5.7.1, so Postino is never an open relay.
 *
 * @module
 */
import { BlockList, isIP } from "node:net";
import { accept, reject } from "../core/hooks/decision.ts";
import type { Plugin } from "../core/hooks/plugin.ts";

/** Options for {@linkcode relay}. */
export interface RelayOptions {
  isLocalDomain(domain: string): boolean;
  /** Trusted client networks, `address/prefix` (validated by the config). */
  networks: readonly string[];
}

/** Builds a matcher for CIDR networks; IPv4-mapped IPv6 addresses match IPv4 networks. */
export function networkMatcher(networks: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const network of networks) {
    const [address = "", prefix] = network.split("/");
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    list.addSubnet(
      address,
      prefix === undefined ? (family === "ipv4" ? 32 : 128) : Number(prefix),
      family,
    );
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? "ipv6" : "ipv4");
  };
}

/** Creates the `relay` plugin. */
export function relay(options: RelayOptions): Plugin {
  const trusted = networkMatcher(options.networks);
  return {
    name: "relay",
    rcpt(ctx, recipient) {
      if (options.isLocalDomain(recipient.mailbox.domain)) return undefined;
      if (ctx.connection.user !== undefined || trusted(ctx.connection.remote.address)) {
        return accept();
      }
      return reject(550, "5.7.1", "Relay access denied");
    },
  };
}
