/**
 * The listener side: accepts connections, enforces the connection limits
 * (421 4.7.0), runs one {@linkcode Session} per connection and shuts down
 * gracefully. A reload swaps the settings and plugin chain for new
 * connections; live sessions keep the ones they started with.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { HookRunner } from "./hooks/runner.ts";
import type { Logger } from "./log.ts";
import { newQueueId } from "./queue/queue_id.ts";
import type { Conn, Endpoint, Listener } from "./runtime/conn.ts";
import type { Runtime } from "./runtime/runtime.ts";
import { formatReply, reply } from "./smtp/reply.ts";
import { Session, type SessionSettings } from "./smtp/session.ts";

/** One configuration generation: settings plus the plugin chain. */
export interface ServerSetup {
  config: Config;
  runner: HookRunner;
}

/** Turns a config into the settings a session reads. */
export function sessionSettings(config: Config): SessionSettings {
  const local = new Set(config.domains);
  return {
    hostname: config.hostname,
    primaryDomain: config.domains[0] ?? config.hostname,
    isLocalDomain: (domain) => local.has(domain.toLowerCase()),
    maxMessageSize: config.maxMessageSize,
    maxRecipients: config.maxRecipients,
    maxErrors: config.maxErrors,
    idleTimeoutMs: config.idleTimeoutMs,
    bareLf: config.bareLf,
  };
}

/** The SMTP server. */
export class Server {
  #runtime: Runtime;
  #log: Logger;
  #setup: ServerSetup;
  #settings: SessionSettings;
  #listeners: Listener[] = [];
  #live = new Map<Session, Conn>();
  #perIp = new Map<string, number>();
  #nextId = 0;
  #idPrefix = newQueueId().slice(-4);
  #stopping = false;
  #drained: (() => void) | undefined;

  constructor(runtime: Runtime, log: Logger, setup: ServerSetup) {
    this.#runtime = runtime;
    this.#log = log;
    this.#setup = setup;
    this.#settings = sessionSettings(setup.config);
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
    for (const address of this.#setup.config.listen) {
      const listener = await this.#runtime.listen(address, (conn) => this.#accept(conn));
      this.#listeners.push(listener);
      this.#log.event("listening", { address: listener.local.address, port: listener.local.port });
    }
    return this.endpoints;
  }

  /** Uses a new configuration for connections accepted from now on. */
  update(setup: ServerSetup): void {
    this.#setup = setup;
    this.#settings = sessionSettings(setup.config);
  }

  /**
   * Stops accepting, asks sessions to finish (idle ones get 421 at once) and
   * waits up to the grace period before cutting the rest.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const listener of this.#listeners) listener.close();
    this.#listeners = [];
    if (this.#live.size === 0) return;
    const drained = new Promise<void>((resolve) => this.#drained = resolve);
    for (const session of this.#live.keys()) session.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#setup.config.shutdownGraceMs);
    });
    await Promise.race([drained, grace]);
    clearTimeout(timer);
    for (const conn of this.#live.values()) conn.close();
  }

  #accept(conn: Conn): void {
    const config = this.#setup.config;
    const ip = conn.remote.address;
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
        remote: conn.remote,
        local: conn.local,
        helo: undefined,
        tls: undefined,
        user: undefined,
      },
      runner: this.#setup.runner,
      settings: this.#settings,
      log: this.#log,
      newQueueId: () => newQueueId(),
    });
    this.#live.set(session, conn);
    this.#log.event("connect", { conn: id, ip, port: conn.remote.port });
    session.run().finally(() => {
      this.#live.delete(session);
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left > 0) this.#perIp.set(ip, left);
      else this.#perIp.delete(ip);
      this.#log.event("disconnect", { conn: id, ip });
      if (this.#live.size === 0) this.#drained?.();
    });
  }
}
