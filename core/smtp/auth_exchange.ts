/**
 * The SASL dialogue of AUTH (RFC 4954 §4) for PLAIN (RFC 4616) and LOGIN:
 * 334 challenges, the client's base64 responses, `*` to cancel. It only
 * collects credentials; checking them is the session's and plugins' job.
 *
 * @module
 */
import {
  isCancel,
  LOGIN_PASSWORD,
  LOGIN_USERNAME,
  parseLoginField,
  parsePlain,
} from "../auth/sasl.ts";
import { type Reply, reply } from "./reply.ts";

/** The mechanisms Postino offers. */
export const MECHANISMS = ["PLAIN", "LOGIN"] as const;

/** One of {@linkcode MECHANISMS}. */
export type Mechanism = typeof MECHANISMS[number];

/** Credentials as the client gave them. */
export interface Credentials {
  /** A built-in mechanism, or one a plugin added (upper case). */
  mechanism: string;
  /** The identity to act as (PLAIN only; usually empty). */
  authzid: string;
  username: string;
  password: string;
}

/** How the exchange ended. */
export type AuthAttempt =
  | { kind: "credentials"; credentials: Credentials }
  | { kind: "cancelled" }
  | { kind: "malformed" }
  | { kind: "gone" };

/** What the exchange needs from the session. */
export interface AuthIo {
  send(r: Reply): void;
  /** The next line from the client (replies are flushed first); `null` if it left. */
  readLine(): Promise<string | null>;
}

/** A 334 challenge; its text is base64 and carries no enhanced code. */
function challenge(text: string): Reply {
  return reply(334, "", text);
}

async function respond(
  io: AuthIo,
  text: string,
  initial: string | undefined,
): Promise<string | null> {
  if (initial !== undefined) return initial;
  io.send(challenge(text));
  return await io.readLine();
}

/**
 * A SASL mechanism a plugin adds (e.g. XOAUTH2): it runs the exchange with
 * `io` and returns the credentials, which then go through the `auth` hook.
 */
export type SaslMechanism = (initial: string | undefined, io: AuthIo) => Promise<AuthAttempt>;

/** Runs the exchange for `mechanism`, starting from an optional initial response. */
export async function readCredentials(
  mechanism: Mechanism,
  initial: string | undefined,
  io: AuthIo,
): Promise<AuthAttempt> {
  if (mechanism === "PLAIN") {
    // RFC 4954 §4: an empty challenge, unless the client sent an initial response.
    const line = await respond(io, "", initial);
    if (line === null) return { kind: "gone" };
    if (isCancel(line)) return { kind: "cancelled" };
    const plain = parsePlain(line);
    if (plain === "malformed") return { kind: "malformed" };
    return {
      kind: "credentials",
      credentials: {
        mechanism,
        authzid: plain.authzid,
        username: plain.authcid,
        password: plain.password,
      },
    };
  }
  const user = await respond(io, LOGIN_USERNAME, initial);
  if (user === null) return { kind: "gone" };
  if (isCancel(user)) return { kind: "cancelled" };
  const username = parseLoginField(user);
  if (username === "malformed") return { kind: "malformed" };
  const pass = await respond(io, LOGIN_PASSWORD, undefined);
  if (pass === null) return { kind: "gone" };
  if (isCancel(pass)) return { kind: "cancelled" };
  const password = parseLoginField(pass);
  if (password === "malformed") return { kind: "malformed" };
  return { kind: "credentials", credentials: { mechanism, authzid: "", username, password } };
}
