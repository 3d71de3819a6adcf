/**
 * An example plugin, as the README's plugin guide walks through it: refuses
 * mail from listed sender domains and stamps a header on everything else.
 *
 * Config:
 * ```toml
 * plugins = ["./plugins/examples/block_senders.ts"]
 * [plugin.block_senders]
 * domains = ["spam.example"]
 * ```
 *
 * @module
 */
// Type-only imports are erased at run time, so this file never loads core
// code by path and works from the compiled binary too.
import type { PluginHost } from "../../core/hooks/host.ts";
import type { Plugin } from "../../core/hooks/plugin.ts";

/** Builds the plugin from the host API. */
export default function blockSenders(host: PluginHost): Plugin<{ checked: number }> {
  const listed = Array.isArray(host.options.domains) ? host.options.domains : [];
  const blocked = new Set(listed.map((d) => String(d).toLowerCase()));
  return {
    name: "block_senders",
    createState: () => ({ checked: 0 }),
    mail(ctx, sender) {
      ctx.state.checked++;
      if (sender && blocked.has(sender.domain)) {
        ctx.log.info("blocked sender", { sender: sender.address });
        return host.reject(550, "5.7.1", "Mail from your domain is not accepted here");
      }
    },
    data_post(ctx, message) {
      message.prepend("X-Block-Senders", `passed; checked=${ctx.state.checked}`);
    },
  };
}
