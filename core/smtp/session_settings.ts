/**
 * What a session is configured with: the settings snapshot from the server
 * config, and the objects it is handed at construction.
 *
 * @module
 */
import type { Connection } from "../hooks/plugin.ts";
import type { HookRunner } from "../hooks/runner.ts";
import type { Logger } from "../log.ts";
import type { Conn, TlsServerOptions } from "../runtime/conn.ts";
import type { AuthBackend } from "./auth_command.ts";
import type { BareLfPolicy } from "./data_reader.ts";
import type { Deadlines } from "./deadlines.ts";

/** Settings a session reads; a snapshot of the server config. */
export interface SessionSettings extends Deadlines {
  hostname: string;
  /** The first local domain, for `RCPT TO:<Postmaster>`. */
  primaryDomain: string;
  isLocalDomain(domain: string): boolean;
  maxMessageSize: number;
  maxRecipients: number;
  maxErrors: number;
  idleTimeoutMs: number;
  bareLf: BareLfPolicy;
  /** The certificate for STARTTLS; STARTTLS is not offered without one. */
  tls?: () => TlsServerOptions | undefined;
  /** Checks passwords and limits guessing; AUTH is not offered without it. */
  auth?: AuthBackend;
  /** Submission (RFC 6409): MAIL needs AUTH first (530 5.7.0). */
  requireAuth?: boolean;
}

/** Everything a session needs from the server. */
export interface SessionOptions {
  conn: Conn;
  connection: Connection;
  runner: HookRunner;
  settings: SessionSettings;
  log: Logger;
  /** Makes a queue id for a new transaction. */
  newQueueId(): string;
  /** Bytes the client sent before the session started (after a PROXY header). */
  initial?: Uint8Array;
}
