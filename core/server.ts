/**
 * The listener side: accepts connections, enforces the connection limits
 * (421 4.7.0), runs one {@linkcode Session} per connection and shuts down
 * gracefully. A reload swaps the settings and plugin chain for new
 * connections; live sessions keep the ones they started with.
 *
 * @module
 */
import type { Config, ListenerSpec } from "./config.ts";
import type { HookRunner } from "./hooks/runner.ts";
import type { Logger } from "./log.ts";
import { newQueueId } from "./queue/queue_id.ts";
import type { Conn, Endpoint, Listener, TlsServerOptions } from "./runtime/conn.ts";
import { readProxyHeader } from "./smtp/proxy_reader.ts";
import type { Runtime } from "./runtime/runtime.ts";
import { formatReply, reply } from "./smtp/reply.ts";
import { type AuthBackend, Session, type SessionSettings } from "./smtp/session.ts";

/** One configuration generation: settings plus the plugin chain. */
export interface ServerSetup {
  config: Config;
  runner: HookRunner;
  /** The certificate and key in use (re-read on reload). */
  tls?: TlsServerOptions | undefined;
  auth?: AuthBackend | undefined;
}

/** How long a client may take to finish a PROXY header or an implicit TLS handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Once the shutdown grace is over: how long writing the 421 to a session
 * still busy may take, and then how long it may take to end.
 */
const CUT_MS = 1_000;

/** Waits for `promise`, but no longer than `ms`. */
async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

/** Turns a config into the settings a session on `listener` reads. */
export function sessionSettings(
  config: Config,
  listener?: ListenerSpec,
  extras: { tls?: TlsServerOptions | undefined; auth?: AuthBackend | undefined } = {},
): SessionSettings {
  const local = new Set(config.domains);
  const tls = extras.tls;
  return {
    ...(tls ? { tls: () => tls } : {}),
    ...(extras.auth ? { auth: extras.auth } : {}),
    requireAuth: listener?.kind === "submission" || listener?.kind === "odmr",
    hostname: config.hostname,
    primaryDomain: config.domains[0] ?? config.hostname,
    isLocalDomain: (domain) => local.has(domain.toLowerCase()),
    maxMessageSize: config.maxMessageSize,
    maxRecipients: config.maxRecipients,
    maxErrors: config.maxErrors,
    idleTimeoutMs: config.idleTimeoutMs,
    greetPauseMs: config.greetPauseMs,
    commandTimeoutMs: config.commandTimeoutMs,
    dataTimeoutMs: config.dataTimeoutMs,
    writeTimeoutMs: config.writeTimeoutMs,
    bareLf: config.bareLf,
  };
}

/** The SMTP server. */
export class Server {
  #runtime: Runtime;
  #log: Logger;
  #setup: ServerSetup;
  #listeners: Listener[] = [];
  #live = new Map<Session, Conn>();
  #perIp = new Map<string, number>();
  #nextId = 0;
  #idPrefix = newQueueId().slice(-4);
  #stopping = false;
  #drained: (() => void) | undefined;
  /** Live sessions per plugin chain, and who waits for a chain to fall idle. */
  #uses = new Map<HookRunner, { sessions: number; idle: (() => void)[] }>();

  constructor(runtime: Runtime, log: Logger, setup: ServerSetup) {
    this.#runtime = runtime;
    this.#log = log;
    this.#setup = setup;
  }

  /** Number of live sessions. */
  get connections(): number {
    return this.#live.size;
  }

  /** The bound addresses (port 0 becomes the real port). */
  get endpoints(): Endpoint[] {
    return this.#listeners.map((l) => l.local);
  }

  /** Binds every configured listener. */
  async start(): Promise<Endpoint[]> {
    for (const spec of this.#setup.config.listeners) {
      const listener = await this.#runtime.listen(spec, (conn) => void this.#accept(conn, spec));
      this.#listeners.push(listener);
      this.#log.event("listening", { address: listener.local.address, port: listener.local.port });
    }
    return this.endpoints;
  }

  /** Uses a new configuration for connections accepted from now on. */
  update(setup: ServerSetup): void {
    this.#setup = setup;
  }

  /**
   * Resolves once no live session runs with `runner` (at once if none
   * does): a chain replaced by a reload can then be closed.
   */
  whenUnused(runner: HookRunner): Promise<void> {
    const use = this.#uses.get(runner);
    if (!use) return Promise.resolve();
    return new Promise((resolve) => use.idle.push(resolve));
  }

  /**
   * Stops accepting, asks sessions to finish (idle ones get 421 at once) and
   * waits up to the grace period. Sessions still busy then (a client that
   * never ends its DATA) get 421 and are closed, and stop() waits at most
   * {@linkcode CUT_MS} more for them to end, so the caller can close the
   * spool after them.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const listener of this.#listeners) listener.close();
    this.#listeners = [];
    if (this.#live.size === 0) return;
    const drained = new Promise<void>((resolve) => this.#drained = resolve);
    for (const session of this.#live.keys()) session.stop();
    await waitAtMost(drained, this.#setup.config.shutdownGraceMs);
    if (this.#live.size === 0) return;
    this.#log.event("shutdown_cut", { sessions: this.#live.size, reason: "shutdown_grace" });
    await Promise.all([...this.#live.keys()].map((session) => session.abort(CUT_MS)));
    await waitAtMost(drained, CUT_MS);
  }

  /** Reads the PROXY header and does the implicit TLS handshake, if the listener wants them. */
  async #prepare(
    conn: Conn,
    spec: ListenerSpec,
  ): Promise<{ conn: Conn; remote: Endpoint; initial?: Uint8Array } | undefined> {
    let remote = conn.remote;
    let initial: Uint8Array | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("handshake timeout")), HANDSHAKE_TIMEOUT_MS);
    });
    try {
      if (spec.proxy) {
        const header = await Promise.race([readProxyHeader(conn), deadline]);
        if (header.kind !== "ok") throw new Error(`bad PROXY header: ${header.reason}`);
        if (header.source) remote = header.source;
        if (header.rest.byteLength > 0) initial = header.rest;
      }
      if (spec.implicitTls) {
        const tls = this.#setup.tls;
        if (!tls) throw new Error("no certificate for implicit TLS");
        conn = await Promise.race([conn.startTls(tls), deadline]);
      }
      return { conn, remote, ...(initial ? { initial } : {}) };
    } catch (error) {
      this.#log.event("reject", { ip: remote.address, stage: "handshake", reason: String(error) });
      conn.close();
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async #accept(raw: Conn, spec: ListenerSpec): Promise<void> {
    const prepared = spec.proxy || spec.implicitTls
      ? await this.#prepare(raw, spec)
      : { conn: raw, remote: raw.remote };
    if (!prepared) return;
    const { conn, remote } = prepared;
    const setup = this.#setup;
    const config = setup.config;
    const ip = remote.address;
    const fromIp = this.#perIp.get(ip) ?? 0;
    const refusal = this.#stopping
      ? reply(421, "4.3.2", `${config.hostname} Service shutting down`)
      : this.#live.size >= config.maxConnections
      ? reply(421, "4.7.0", `${config.hostname} Too many connections, try again later`)
      : fromIp >= config.maxConnectionsPerIp
      ? reply(421, "4.7.0", `${config.hostname} Too many connections from your address`)
      : undefined;
    if (refusal) {
      this.#log.event("reject", { ip, stage: "connect", code: 421, reason: refusal.lines[0] });
      conn.write(new TextEncoder().encode(formatReply(refusal))).finally(() => conn.close());
      return;
    }
    this.#perIp.set(ip, fromIp + 1);
    const id = `${this.#idPrefix}${(this.#nextId++).toString(36)}`;
    const session = new Session({
      conn,
      connection: {
        id,
        remote,
        local: conn.local,
        helo: undefined,
        tls: spec.implicitTls ? conn.tlsInfo ?? { version: "TLS", cipher: "unknown" } : undefined,
        user: undefined,
        listener: spec.kind,
      },
      ...(prepared.initial ? { initial: prepared.initial } : {}),
      runner: setup.runner,
      settings: sessionSettings(config, spec, { tls: setup.tls, auth: setup.auth }),
      log: this.#log,
      newQueueId: () => newQueueId(),
    });
    this.#live.set(session, conn);
    const use = this.#uses.get(setup.runner) ?? { sessions: 0, idle: [] };
    use.sessions++;
    this.#uses.set(setup.runner, use);
    this.#log.event("connect", {
      conn: id,
      ip,
      port: remote.port,
      listener: `${spec.hostname}:${spec.port}`,
    });
    session.run().finally(() => {
      this.#live.delete(session);
      if (--use.sessions === 0) {
        this.#uses.delete(setup.runner);
        for (const resolve of use.idle) resolve();
      }
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.#perIp.set(ip, left);
      else this.#perIp.delete(ip);
      // How the session was protected, for the metrics' TLS usage counts.
      const tls = spec.implicitTls ? "implicit" : session.connection.tls ? "starttls" : "none";
      this.#log.event("disconnect", { conn: id, ip, tls });
      if (this.#live.size === 0) this.#drained?.();
    });
  }
}
