/**
 * HELP texts (RFC 5321 §4.1.1.8) and the EHLO keyword list.
 *
 * @module
 */
import type { Connection } from "../hooks/plugin.ts";
import { type Reply, reply } from "./reply.ts";

/** Usage for each verb the core knows. Plugins may add their own. */
export const HELP_TEXT: Readonly<Record<string, string>> = {
  HELO: "HELO <domain>: identify yourself",
  EHLO: "EHLO <domain>: identify yourself and list extensions",
  MAIL: "MAIL FROM:<address> [SIZE=n] [BODY=8BITMIME] [SMTPUTF8] [RET=FULL|HDRS] [ENVID=id]",
  RCPT: "RCPT TO:<address> [NOTIFY=...] [ORCPT=type;address]",
  DATA: "DATA: send the message, ending with <CRLF>.<CRLF>",
  BDAT: "BDAT <size> [LAST]: send the next chunk of the message",
  RSET: "RSET: abort the current transaction",
  NOOP: "NOOP: do nothing",
  QUIT: "QUIT: close the connection",
  HELP: "HELP [command]: show help",
  VRFY: "VRFY <user>: verify a user name",
  EXPN: "EXPN <list>: expand a mailing list",
  TURN: "TURN: reverse the roles of client and server",
  SEND: "SEND FROM:<address>: deliver to the user's terminal",
  SOML: "SOML FROM:<address>: deliver to the terminal, or else the mailbox",
  SAML: "SAML FROM:<address>: deliver to the terminal and the mailbox",
  STARTTLS: "STARTTLS: switch to TLS (RFC 3207)",
  AUTH: "AUTH <PLAIN|LOGIN> [initial-response]: log in (over TLS only)",
};

/** The EHLO keywords (RFC 5321 §4.1.1.1) for a server with these settings. */
export function ehloKeywords(
  options: { maxMessageSize: number; starttls?: boolean; auth?: readonly string[] | undefined },
): string[] {
  return [
    "PIPELINING",
    `SIZE ${options.maxMessageSize}`,
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "CHUNKING",
    "DSN",
    ...(options.starttls ? ["STARTTLS"] : []),
    ...(options.auth && options.auth.length > 0 ? [`AUTH ${options.auth.join(" ")}`] : []),
    "HELP",
  ];
}

/**
 * The reply to `HELP [topic]` (RFC 5321 §4.1.1.8): the verbs usable here,
 * or one verb's usage line; 504 for a verb that is not available.
 */
export function helpReply(
  topic: string,
  verbs: readonly string[],
  available: (verb: string) => boolean,
  extra: Readonly<Record<string, string>> = {},
): Reply {
  const verb = topic.toUpperCase();
  if (verb === "") {
    return reply(214, "2.0.0", [
      "Commands:",
      verbs.filter(available).join(" "),
      "HELP <command> for usage",
    ]);
  }
  const text = Object.hasOwn(HELP_TEXT, verb) ? HELP_TEXT[verb] : extra[verb];
  if (!text || !available(verb)) return reply(504, "5.5.1", `No help for ${verb}`);
  return reply(214, "2.0.0", text);
}

/** One verb a plugin adds: its HELP line and optional EHLO keyword. */
export interface PluginVerb {
  help: string;
  ehlo?: string;
  /** Announce `ehlo` only on connections this approves (default: all). */
  ehloWhen?(connection: Connection): boolean;
}

/** The verbs `plugins` add, upper-cased, in plugin order. */
export function pluginVerbs(
  plugins: readonly { verbs?: Readonly<Record<string, PluginVerb>> }[],
): [string, PluginVerb][] {
  return plugins.flatMap((p) =>
    Object.entries(p.verbs ?? {}).map((
      [name, verb],
    ): [string, PluginVerb] => [name.toUpperCase(), verb])
  );
}
