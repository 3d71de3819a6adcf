/**
 * Verbs the core parses but plugins answer: VRFY, EXPN (RFC 5321 §3.5) and
 * TURN (RFC 821). Each has an argument rule, the reply for a plugin's bare
 * `accept()`, and what the server says when no plugin answers.
 *
 * @module
 */
import { type Reply, reply } from "./reply.ts";

/** How one plugin-owned verb behaves. */
export interface OwnedVerb {
  hook: "vrfy" | "expn" | "turn";
  /** Whether the verb needs an argument (VRFY, EXPN) or takes none (TURN). */
  takesArgument: boolean;
  /** The 501 text for a wrong argument. */
  usage: string;
  /** The reply to a plugin's `accept()` without a reply of its own. */
  ok(argument: string): Reply;
  /** The reply when no plugin answers, and whether it counts as an error. */
  none: Reply;
  noneIsError: boolean;
  /** An accepted answer may take over the connection (TURN). */
  handover: boolean;
}

/** The plugin-owned verbs by name. */
export const OWNED_VERBS: Readonly<Record<"VRFY" | "EXPN" | "TURN", OwnedVerb>> = {
  VRFY: {
    hook: "vrfy",
    takesArgument: true,
    usage: "Syntax: VRFY <user>",
    ok: (argument) => reply(250, "2.1.5", argument),
    // RFC 5321 §3.5.3: 252 is the honest answer of a server that will not tell.
    none: reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    noneIsError: false,
    handover: false,
  },
  EXPN: {
    hook: "expn",
    takesArgument: true,
    usage: "Syntax: EXPN <list>",
    ok: (argument) => reply(250, "2.1.5", argument),
    none: reply(502, "5.5.1", "EXPN not implemented"),
    noneIsError: true,
    handover: false,
  },
  TURN: {
    hook: "turn",
    takesArgument: false,
    usage: "TURN takes no arguments",
    ok: () => reply(250, "2.0.0", "Ok"),
    none: reply(502, "5.5.1", "TURN not implemented"),
    noneIsError: true,
    handover: true,
  },
};
