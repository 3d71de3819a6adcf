/**
 * `terminal` (opt-in, `--plugin terminal`): RFC 821's SEND, SOML and SAML.
 * A user's terminal is any live `postino watch ADDRESS` (see
 * `core/terminal/`); the server keeps them in a {@linkcode TerminalHub}.
 *
 * - **SEND** shows the message on every open terminal of each recipient and
 *   is never spooled. RCPT answers `450 4.2.1` for a local user with no
 *   terminal, and `550 5.7.1` for any other domain: a remote terminal cannot
 *   be reached, so relaying SEND is not possible.
 * - **SOML** ("send or mail"): a recipient whose mailboxes all have a
 *   terminal open gets the terminal only; the others get their mailbox.
 * - **SAML** ("send and mail"): terminal and mailbox.
 *
 * The terminal text is the message body decoded as UTF-8 (MIME is not
 * decoded), capped at `max_text_bytes` (default 8192) and stripped of
 * control characters except newline and tab, so it cannot drive the
 * watcher's terminal. The sender shown is the envelope sender.
 *
 * **Where it sits in the chain.** MAIL needs no plugin to say yes, but the
 * SEND family does, and the first decision wins: plugins listed after
 * `terminal` never see SEND/SOML/SAML at MAIL. So the plugin applies the
 * default chain's MAIL checks itself (`sender_login`, unless
 * `sender_login_check = false`, and the spool's 452 when it is full, for
 * SOML/SAML), and recipients still go through the usual RCPT rules (relay
 * for SOML/SAML). List it after other policy plugins, including
 * `rate_limit` to count SEND transactions: `plugins = ["rate_limit", "terminal"]`.
 *
 * ```toml
 * plugins = ["terminal"]
 * [plugin.terminal]
 * max_text_bytes = 8192   # optional
 * ```
 *
 * @module
 */
import { accept, reject, tempfail } from "../core/hooks/decision.ts";
import type { DirectoryView, PluginHost } from "../core/hooks/host.ts";
import type { Plugin, Recipient } from "../core/hooks/plugin.ts";
import type { TerminalHub } from "../core/terminal/hub.ts";
import { ownsSender } from "./sender_login.ts";

/** The defaults of {@linkcode terminal}. */
export const TERMINAL_DEFAULTS = { maxTextBytes: 8192 } as const;

/** Options for {@linkcode terminal}. */
export interface TerminalOptions {
  hub: Pick<TerminalHub, "has" | "deliver">;
  directory: DirectoryView;
  isLocalDomain(domain: string): boolean;
  /** Refuse senders an authenticated user does not own, as `sender_login` does (default true). */
  senderLoginCheck?: boolean;
  /** Whether the spool is full (SOML and SAML then get 452 4.3.1 at MAIL). */
  spoolFull?(): boolean;
  /** The most body bytes shown on a terminal. */
  maxTextBytes?: number;
}

/**
 * The body as terminal text: UTF-8 (bad bytes become U+FFFD), CRLF as LF,
 * at most `maxBytes` bytes of body, no control characters but LF and TAB.
 *
 * @example
 * ```ts
 * terminalText(new TextEncoder().encode("hi\x1b[2J\r\nthere\r\n"), 100); // "hi[2J\nthere"
 * ```
 */
export function terminalText(body: Uint8Array, maxBytes: number): string {
  const cut = body.byteLength > maxBytes;
  let text = new TextDecoder().decode(cut ? body.subarray(0, maxBytes) : body);
  if (cut) text = text.replace(/\uFFFD$/, ""); // a character split by the cap
  text = text.replace(/\r\n/g, "\n")
    // C0, DEL and C1 controls (C1 has CSI, U+009B) but not TAB and LF.
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0B-\x1F\x7F-\x9F]/g, "")
    .replace(/\n+$/, "");
  return cut ? `${text}\n[truncated]` : text;
}

/** Creates the `terminal` plugin. */
export function terminal(options: TerminalOptions): Plugin {
  const maxTextBytes = options.maxTextBytes ?? TERMINAL_DEFAULTS.maxTextBytes;
  const { hub, directory } = options;
  /** A recipient's local mailboxes and whether it also forwards elsewhere. */
  const resolve = (recipient: Recipient) => {
    if (!options.isLocalDomain(recipient.mailbox.domain)) return undefined;
    return directory.resolve(recipient.mailbox.address);
  };
  /** Shows the message on the terminals of `mailboxes` not shown yet; returns how many. */
  const show = (mailboxes: Iterable<string>, from: string, text: string, done: Set<string>) => {
    let shown = 0;
    for (const mailbox of mailboxes) {
      if (done.has(mailbox)) continue;
      done.add(mailbox);
      shown += hub.deliver(mailbox, { from, text });
    }
    return shown;
  };
  return {
    name: "terminal",
    mail(ctx, sender) {
      const mode = ctx.transaction?.mode ?? "MAIL";
      if (mode === "MAIL") return undefined; // MAIL is for the rest of the chain
      const user = ctx.connection.user;
      if (
        options.senderLoginCheck !== false && user !== undefined && sender !== null &&
        !ownsSender(directory, user, sender.address)
      ) {
        return reject(553, "5.7.1", `Sender address rejected: not owned by user ${user}`);
      }
      if (mode !== "SEND" && options.spoolFull?.()) {
        return tempfail(452, "4.3.1", "Insufficient system storage, try again later");
      }
      return accept();
    },
    rcpt(ctx, recipient) {
      if (ctx.transaction?.mode !== "SEND") return undefined; // SOML, SAML: the usual rules
      const address = recipient.mailbox.address;
      if (!options.isLocalDomain(recipient.mailbox.domain)) {
        return reject(550, "5.7.1", `<${address}>: SEND reaches local terminals only`);
      }
      const where = resolve(recipient);
      if (!where || where.mailboxes.length === 0) {
        return reject(550, "5.1.1", "Recipient address rejected: User unknown");
      }
      if (!where.mailboxes.some((m) => hub.has(m))) {
        return tempfail(450, "4.2.1", `<${address}>: user has no terminal`);
      }
      return accept();
    },
    queue(ctx, message) {
      const transaction = ctx.transaction;
      if (!transaction || transaction.mode === "MAIL") return undefined;
      const from = transaction.sender?.address ?? "<>";
      const text = terminalText(message.body, maxTextBytes);
      const done = new Set<string>();
      if (transaction.mode === "SEND") {
        const shown = transaction.recipients.reduce(
          (n, r) => n + show(resolve(r)?.mailboxes ?? [], from, text, done),
          0,
        );
        // Every terminal closed between RCPT and the end of DATA.
        if (shown === 0) return tempfail(450, "4.2.1", "No terminal open any more");
        ctx.log.info("sent to terminals", { id: transaction.id, terminals: shown, spooled: false });
        return accept(250, "2.0.0", `Ok: sent to ${shown} terminal(s)`);
      }
      if (transaction.mode === "SAML") {
        const shown = transaction.recipients.reduce(
          (n, r) => n + show(resolve(r)?.mailboxes ?? [], from, text, done),
          0,
        );
        ctx.log.info("sent to terminals", { id: transaction.id, terminals: shown, spooled: true });
        return undefined; // and `spool` delivers to every mailbox
      }
      // SOML. A recipient is served by terminal only when every mailbox it
      // reaches has one open; otherwise it keeps its place in the envelope.
      // The envelope's recipient array is mutable by contract, and is cut
      // down in place so that `spool`, next in the chain, stores only the
      // rest. A spool failure (451) after this means the client retries and
      // the terminals see the message twice: at least once, as for mail.
      const onTerminal = transaction.recipients.filter((r) => {
        const where = resolve(r);
        return where !== undefined && where.remote.length === 0 && where.mailboxes.length > 0 &&
          where.mailboxes.every((m) => hub.has(m));
      });
      let shown = 0;
      for (const r of onTerminal) {
        shown += show(resolve(r)?.mailboxes ?? [], from, text, done);
        transaction.recipients.splice(transaction.recipients.indexOf(r), 1);
      }
      const spooled = transaction.recipients.length > 0;
      ctx.log.info("sent to terminals", { id: transaction.id, terminals: shown, spooled });
      return spooled ? undefined : accept(250, "2.0.0", "Ok: sent to terminal");
    },
  };
}

/** What {@linkcode terminalFromHost} needs from the server (part of `BuiltinDeps`). */
export interface TerminalDeps {
  terminals?: Pick<TerminalHub, "has" | "deliver">;
  senderLoginCheck?: boolean;
  spool: { spool: { count(): number }; maxQueued: number };
}

/** Builds `terminal` from its `[plugin.terminal]` table; throws naming a bad option. */
export function terminalFromHost(
  host: Pick<PluginHost, "options" | "directory" | "isLocalDomain">,
  deps: TerminalDeps,
): Plugin {
  if (!deps.terminals) throw new Error("plugin terminal: this server has no terminal hub");
  let maxTextBytes: number = TERMINAL_DEFAULTS.maxTextBytes;
  for (const [key, value] of Object.entries(host.options)) {
    if (key !== "max_text_bytes") throw new Error(`plugin.terminal: unknown option "${key}"`);
    const n = typeof value === "number" || typeof value === "bigint" ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new Error("plugin.terminal: max_text_bytes must be a positive integer");
    }
    maxTextBytes = n;
  }
  return terminal({
    hub: deps.terminals,
    directory: host.directory,
    isLocalDomain: (d) => host.isLocalDomain(d),
    senderLoginCheck: deps.senderLoginCheck !== false,
    spoolFull: () => deps.spool.spool.count() >= deps.spool.maxQueued,
    maxTextBytes,
  });
}
