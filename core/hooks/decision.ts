/**
 * The answers a hook can give. The first plugin that returns a decision
 * wins; `undefined` passes the event to the next plugin.
 *
 * @module
 */
import type { Conn } from "../runtime/conn.ts";
import { type Reply, reply } from "../smtp/reply.ts";

/**
 * Takes over the connection after an accepted command's reply went out
 * (ATRN, RFC 2645 §4.2: the server turns SMTP client on the same socket).
 * The session closes the connection when it resolves.
 */
export type Handover = (conn: Conn) => Promise<void>;

/** A hook's verdict, with the reply the client will see. */
export type Decision =
  | { kind: "accept"; reply: Reply | undefined; handover?: Handover }
  | { kind: "reject"; reply: Reply }
  | { kind: "tempfail"; reply: Reply }
  | { kind: "disconnect"; reply: Reply };

function check(code: number, enhanced: string, low: number, high: number): void {
  if (!Number.isInteger(code) || code < low || code > high) {
    throw new RangeError(`reply code ${code} is not in ${low}..${high}`);
  }
  if (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) || enhanced[0] !== String(code)[0]) {
    throw new RangeError(`enhanced code "${enhanced}" does not match ${code}`);
  }
}

/**
 * Accepts the event. With no arguments the core sends its usual reply.
 *
 * @example
 * ```ts
 * accept(); // "250 2.1.5 Ok" at RCPT
 * accept(250, "2.1.5", "Alice <alice@example.org>"); // a VRFY answer
 * ```
 */
export function accept(code?: number, enhanced?: string, text?: string | string[]): Decision {
  if (code === undefined) return { kind: "accept", reply: undefined };
  const e = enhanced ?? "2.0.0";
  check(code, e, 200, 399);
  return { kind: "accept", reply: reply(code, e, text ?? "Ok") };
}

/**
 * Adds a {@linkcode Handover} to an accept decision: the session flushes the
 * reply, runs `handover` with the connection, then closes it. Only the
 * `turn` hook and plugin verbs (`unknown_command`) honour it.
 *
 * @example
 * ```ts
 * return handOver(accept(250, "2.0.0", "OK now reversing the connection"), async (conn) => {
 *   // speak SMTP as the client over `conn`
 * });
 * ```
 */
export function handOver(decision: Decision, handover: Handover): Decision {
  if (decision.kind !== "accept") throw new TypeError("only an accept decision can hand over");
  return { ...decision, handover };
}

/** Refuses permanently (5xx). */
export function reject(code = 550, enhanced = "5.7.1", text = "Rejected"): Decision {
  check(code, enhanced, 500, 599);
  return { kind: "reject", reply: reply(code, enhanced, text) };
}

/** Refuses for now (4xx); the client should retry later. */
export function tempfail(code = 451, enhanced = "4.3.0", text = "Try again later"): Decision {
  check(code, enhanced, 400, 499);
  return { kind: "tempfail", reply: reply(code, enhanced, text) };
}

/** Sends the reply and closes the connection (421 unless told otherwise). */
export function disconnect(code = 421, enhanced = "4.7.0", text = "Closing connection"): Decision {
  check(code, enhanced, 400, 599);
  return { kind: "disconnect", reply: reply(code, enhanced, text) };
}

/** The fail-closed answer for a plugin that threw or timed out. */
export const PLUGIN_FAILURE: Decision = {
  kind: "tempfail",
  reply: reply(451, "4.3.0", "Temporary local problem, try again later"),
};
