/**
 * An example gateway plugin: recipients in the configured domains are
 * routed to the `archive` gateway, which stores each message as an `.eml`
 * file instead of sending it anywhere. It shows the outbound side of the
 * plugin API: the `route` hook and a deliverer in `gateways`.
 *
 * Config:
 * ```toml
 * plugins = ["./plugins/examples/archive_gateway.ts"]
 * [plugin.archive_gateway]
 * domains = ["archive.example"]
 * ```
 *
 * @module
 */
import { mkdir, open, rename } from "node:fs/promises";
import { join } from "node:path";
import type { PluginHost } from "../../core/hooks/host.ts";
import type { Plugin } from "../../core/hooks/plugin.ts";

/** Builds the plugin from the host API. */
export default function archiveGateway(host: PluginHost): Plugin {
  const listed = Array.isArray(host.options.domains) ? host.options.domains : [];
  const domains = new Set(listed.map((d) => String(d).toLowerCase()));
  const folder = join(host.dataDir, "archive");
  return {
    name: "archive_gateway",
    // Accept these domains at RCPT (they are neither local nor relayed).
    rcpt(_ctx, recipient) {
      if (domains.has(recipient.mailbox.domain)) return host.accept();
    },
    route(_ctx, recipient) {
      const domain = recipient.address.slice(recipient.address.lastIndexOf("@") + 1).toLowerCase();
      if (domains.has(domain)) return { via: "archive" };
    },
    gateways: {
      archive: {
        async deliver(message, recipients) {
          await mkdir(folder, { recursive: true });
          const file = join(folder, `${message.id}.eml`);
          const handle = await open(`${file}.tmp`, "w");
          try {
            await handle.writeFile(message.data);
            await handle.sync();
          } finally {
            await handle.close();
          }
          await rename(`${file}.tmp`, file);
          return recipients.map((r) => ({
            address: r.address,
            status: "delivered" as const,
            host: "archive",
          }));
        },
      },
    },
  };
}
