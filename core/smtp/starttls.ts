/**
 * The STARTTLS command (RFC 3207): its checks, the 220, the discard of
 * anything the client pipelined behind it (CVE-2011-0411), the handshake
 * under a deadline, and the switch of both directions to the secure
 * connection. The session hands it a narrow {@linkcode StartTlsApi} and
 * keeps what it owns: forgetting the pre-TLS state is its `restart()`.
 *
 * @module
 */
import { withDeadline } from "../deadline.ts";
import type { Connection } from "../hooks/plugin.ts";
import type { Logger } from "../log.ts";
import type { Conn, TlsServerOptions } from "../runtime/conn.ts";
import { ClientGone, type Input } from "./input.ts";
import type { Output } from "./output.ts";
import { reply } from "./reply.ts";

/** How long a STARTTLS handshake may take (capped by the idle timeout). */
export const TLS_HANDSHAKE_MS = 10_000;

/** The settings STARTTLS reads. */
export interface StartTlsSettings {
  /** The certificate; STARTTLS is not offered without one. */
  tls?: () => TlsServerOptions | undefined;
  idleTimeoutMs: number;
}

/** What the STARTTLS command needs from the session. */
export interface StartTlsApi {
  readonly connection: Connection;
  /** The plaintext connection to upgrade. */
  readonly conn: Conn;
  readonly settings: StartTlsSettings;
  readonly log: Logger;
  /** The session's read side; it moves to the secure connection. */
  readonly input: Input;
  /** The session's write side; it moves to the secure connection. */
  readonly output: Output;
  /** Sends a failure reply and counts it as an error. */
  error(code: number, enhanced: string, text: string): void;
  /**
   * Adopts the secure connection and forgets everything learnt before it
   * (RFC 3207 §4.2): the transaction, HELO/EHLO, and back to `ready`.
   */
  restart(secure: Conn): Promise<void>;
}

/** Whether EHLO offers STARTTLS and HELP lists it: a certificate, and not on TLS yet. */
export function offersStartTls(connection: Connection, settings: StartTlsSettings): boolean {
  return connection.tls === undefined && settings.tls?.() !== undefined;
}

/**
 * How long the handshake may take: {@linkcode TLS_HANDSHAKE_MS}, or the idle
 * timeout when that is shorter.
 *
 * @example
 * ```ts
 * handshakeLimit(300_000); // 10_000
 * handshakeLimit(2_000); // 2_000
 * ```
 */
export function handshakeLimit(idleTimeoutMs: number): number {
  return Math.min(idleTimeoutMs, TLS_HANDSHAKE_MS);
}

/**
 * Runs `STARTTLS <argument>`. Throws {@linkcode ClientGone} after closing
 * the connection when the handshake fails or does not finish in time.
 */
export async function runStartTls(api: StartTlsApi, argument: string): Promise<void> {
  const { connection, input, output } = api;
  const tls = api.settings.tls?.();
  if (!tls || connection.tls) return api.error(502, "5.5.1", "STARTTLS not available");
  if (argument !== "") return api.error(501, "5.5.4", "STARTTLS takes no arguments");
  output.push(reply(220, "2.0.0", "Ready to start TLS"));
  await output.flush();
  // CVE-2011-0411: anything pipelined after STARTTLS is plaintext an attacker
  // could have injected; it must never be read as a command.
  input.discard();
  let secure: Conn;
  try {
    // A client that stalls or leaves mid-handshake must not keep its slot.
    const limit = handshakeLimit(api.settings.idleTimeoutMs);
    secure = await withDeadline(
      api.conn.startTls(tls),
      limit,
      () => new Error(`no TLS handshake within ${limit} ms`),
    );
  } catch (error) {
    api.log.event("tls_failed", { conn: connection.id, error: String(error) });
    api.conn.close();
    throw new ClientGone();
  }
  input.setReader(() => secure.read());
  output.setConn(secure);
  connection.tls = secure.tlsInfo ?? { version: "TLS", cipher: "unknown" };
  await api.restart(secure);
  api.log.event("tls", { conn: connection.id, ...connection.tls });
}
