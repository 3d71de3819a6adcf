/**
 * The "check" step of MAIL and RCPT: syntax, parameters and the limits that
 * do not depend on policy. Each function returns the parsed command or
 * throws an {@linkcode SmtpError} carrying the reply (RFC 5321 §4.1.1.2-3).
 *
 * @module
 */
import type { Recipient, TransactionMode } from "../hooks/plugin.ts";
import { type Mailbox, parsePath } from "./address.ts";
import { type MailParams, parseMailParams, parseRcptParams } from "./params.ts";
import { SmtpError } from "./reply.ts";

/** What the checks need to know about the session. */
export interface EnvelopeRules {
  /** Whether the client said EHLO (parameters need it). */
  esmtp: boolean;
  maxMessageSize: number;
  /** The domain `RCPT TO:<Postmaster>` stands for. */
  primaryDomain: string;
}

/** Parses `FROM:<path> params` of MAIL, SEND, SOML or SAML. */
export function checkMail(
  mode: TransactionMode,
  argument: string,
  rules: EnvelopeRules,
): { sender: Mailbox | null; params: MailParams } {
  const usage = new SmtpError(501, "5.5.2", `Syntax: ${mode} FROM:<address>`);
  if (!/^FROM:/i.test(argument)) throw usage;
  const path = parsePath(argument.slice(5), { allowNull: true });
  if (path === "syntax") throw usage;
  if (path === "address") throw new SmtpError(501, "5.1.7", "Bad sender address syntax");
  const params = parseMailParams(path.rest);
  if (!rules.esmtp && path.rest !== "") throw new SmtpError(555, "5.5.4", "Parameters need EHLO");
  if (params.size !== undefined && params.size > rules.maxMessageSize) {
    throw new SmtpError(552, "5.3.4", "Message size exceeds fixed limit");
  }
  if (path.mailbox?.utf8 && !params.smtputf8) {
    throw new SmtpError(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
  }
  return { sender: path.mailbox, params };
}

/** Parses `TO:<path> params` of RCPT within a transaction opened with `mail`. */
export function checkRcpt(argument: string, mail: MailParams, rules: EnvelopeRules): Recipient {
  const usage = new SmtpError(501, "5.5.2", "Syntax: RCPT TO:<address>");
  if (!/^TO:/i.test(argument)) throw usage;
  // `<Postmaster>` without a domain must be accepted (RFC 5321 §4.1.1.3).
  const text = argument.slice(3).replace(
    /^\s*<postmaster>/i,
    `<postmaster@${rules.primaryDomain}>`,
  );
  const path = parsePath(text, { allowNull: false });
  if (path === "syntax") throw usage;
  if (path === "address" || !path.mailbox) {
    throw new SmtpError(501, "5.1.3", "Bad recipient address syntax");
  }
  const params = parseRcptParams(path.rest);
  if (!rules.esmtp && path.rest !== "") throw new SmtpError(555, "5.5.4", "Parameters need EHLO");
  if (path.mailbox.utf8 && !mail.smtputf8) {
    throw new SmtpError(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
  }
  return { mailbox: path.mailbox, params };
}
