/**
 * `sender_login`: an authenticated user may only use an envelope sender
 * they own: their own address, or an alias that delivers to them. Anything
 * else gets 553 5.7.1, so a stolen or shared login cannot forge other
 * senders. Turn it off with `sender_login_check = false`.
 *
 * @module
 */
import { reject } from "../core/hooks/decision.ts";
import type { DirectoryView } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";

/** Options for {@linkcode senderLogin}. */
export interface SenderLoginOptions {
  directory: DirectoryView;
}

/** Whether `user` may send as `sender`. */
export function ownsSender(directory: DirectoryView, user: string, sender: string): boolean {
  const wanted = sender.toLowerCase();
  if (wanted === user.toLowerCase()) return true;
  return directory.resolve(wanted)?.mailboxes.includes(user.toLowerCase()) ?? false;
}

/** Creates the `sender_login` plugin. */
export function senderLogin(options: SenderLoginOptions): Plugin {
  return {
    name: "sender_login",
    mail(ctx, sender) {
      const user = ctx.connection.user;
      // The null sender (bounces) is not an address anybody owns; allow it.
      if (user === undefined || sender === null) return undefined;
      if (ownsSender(options.directory, user, sender.address)) return undefined;
      return reject(553, "5.7.1", `Sender address rejected: not owned by user ${user}`);
    },
  };
}
