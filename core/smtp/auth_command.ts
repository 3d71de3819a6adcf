/**
 * The AUTH command (RFC 4954): checks, the SASL exchange (built-in PLAIN and
 * LOGIN, or a plugin's mechanism), then the `auth` hook or the user store,
 * with the brute-force limiter around it. The session hands it a narrow
 * {@linkcode AuthCommandApi} so this logic lives apart from the state machine.
 *
 * @module
 */
import type { AuthLimiter } from "../auth/limiter.ts";
import type { Decision } from "../hooks/decision.ts";
import type { Connection, Plugin } from "../hooks/plugin.ts";
import type { Logger } from "../log.ts";
import {
  type AuthIo,
  type Credentials,
  MECHANISMS,
  readCredentials,
  type SaslMechanism,
} from "./auth_exchange.ts";
import { ClientGone } from "./input.ts";
import { type Reply, reply } from "./reply.ts";

/** What AUTH checks against when no plugin decides. */
export interface AuthBackend {
  verify(username: string, password: string): Promise<boolean>;
  limiter: AuthLimiter;
}

/** What the AUTH command needs from the session. */
export interface AuthCommandApi {
  readonly connection: Connection;
  readonly backend: AuthBackend | undefined;
  readonly hostname: string;
  readonly log: Logger;
  readonly plugins: readonly Plugin[];
  /** Reads and writes the SASL exchange (responses are never traced in clear). */
  readonly io: AuthIo;
  send(r: Reply): void;
  /** Sends a failure reply and counts it as an error. */
  error(code: number, enhanced: string, text: string): void;
  /** Sends the reply and ends the session. */
  closeWith(r: Reply): void;
  hook(credentials: Credentials): Promise<Decision | undefined>;
}

/** The SASL mechanisms plugins add, by upper-case name. */
export function saslMechanisms(plugins: readonly Plugin[]): Map<string, SaslMechanism> {
  const found = new Map<string, SaslMechanism>();
  for (const plugin of plugins) {
    for (const [name, mechanism] of Object.entries(plugin.sasl ?? {})) {
      found.set(name.toUpperCase(), mechanism);
    }
  }
  return found;
}

/** Every mechanism AUTH offers, for EHLO. */
export function offeredMechanisms(plugins: readonly Plugin[]): string[] {
  return [...MECHANISMS, ...saslMechanisms(plugins).keys()];
}

/** Runs `AUTH <argument>`; throws {@linkcode ClientGone} if the client leaves mid-exchange. */
export async function runAuth(api: AuthCommandApi, argument: string): Promise<void> {
  const { backend, connection } = api;
  if (!backend) return api.error(502, "5.5.1", "AUTH not available");
  if (connection.user !== undefined) return api.error(503, "5.5.1", "Already authenticated");
  if (!connection.tls) {
    return api.error(538, "5.7.11", "Encryption required for requested authentication mechanism");
  }
  const [name = "", initial, extra] = argument.split(" ");
  const mechanism = name.toUpperCase();
  const builtin = MECHANISMS.find((m) => m === mechanism);
  const added = builtin ? undefined : saslMechanisms(api.plugins).get(mechanism);
  if ((!builtin && !added) || extra !== undefined) {
    return api.error(504, "5.5.4", "Unrecognized authentication type");
  }
  const tooMany = reply(421, "4.7.0", `${api.hostname} Too many failed logins, try again later`);
  const ip = connection.remote.address;
  if (backend.limiter.blocked(ip).blocked) return api.closeWith(tooMany);
  const attempt = builtin
    ? await readCredentials(builtin, initial, api.io)
    : await (added as SaslMechanism)(initial, api.io);
  if (attempt.kind === "gone") throw new ClientGone();
  if (attempt.kind === "cancelled") return api.error(501, "5.7.0", "Authentication cancelled");
  if (attempt.kind === "malformed") return api.error(501, "5.5.2", "Cannot decode response");
  const { credentials } = attempt;
  const account = credentials.username;
  if (backend.limiter.blocked(ip, account).blocked) return api.closeWith(tooMany);
  const decision = await api.hook(credentials);
  if (decision?.kind === "tempfail") {
    return api.error(454, "4.7.0", "Temporary authentication failure");
  }
  // We do not let one user act as another (no proxy authorization).
  const proxyLogin = credentials.authzid !== "" &&
    credentials.authzid.toLowerCase() !== account.toLowerCase();
  const ok = !proxyLogin &&
    (decision ? decision.kind === "accept" : await backend.verify(account, credentials.password));
  if (ok) {
    backend.limiter.success(ip, account);
    connection.user = account.toLowerCase();
    api.log.event("auth", { conn: connection.id, user: connection.user, mechanism });
    return api.send(reply(235, "2.7.0", "Authentication successful"));
  }
  const { delayMs, nowBlocked } = backend.limiter.failure(ip, account);
  api.log.event("auth_failed", { conn: connection.id, ip, user: account, mechanism });
  // Growing delays slow guessing down; the reply waits, the server does not.
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  if (nowBlocked) return api.closeWith(tooMany);
  api.error(535, "5.7.8", "Authentication credentials invalid");
}
