/**
 * The remote deliverer: finds the next hops for a domain (smart host,
 * transport map or MX), then delivers all of the group's recipients in one
 * SMTP transaction, trying hosts in order. Connections are kept for a few
 * seconds and reused for the next message to the same host under the same
 * TLS policy.
 *
 * The TLS policy comes per domain (the route key, see `tls_policy.ts`):
 * `opportunistic` encrypts without checking and falls back to plaintext when
 * the handshake fails; `required` and `verify` never send in the clear, and a
 * failure defers the recipients with a 4.7.x status.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Deliverer, Route } from "../queue/scheduler.ts";
import type { DueMessage, DueRecipient, Outcome } from "../queue/spool.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { Hop, NextHops } from "./routes.ts";
import {
  type ClientTimeouts,
  type OutboundMessage,
  SmtpClient,
  SmtpClientError,
  type TlsPolicy,
} from "./smtp_client.ts";
import { mandatesTls } from "./tls_policy.ts";

/** Options for {@linkcode remoteDeliverer}. */
export interface RemoteOptions {
  runtime: Runtime;
  /** Where mail for a domain goes next. */
  nextHops(domain: string): Promise<NextHops>;
  /** Our name in EHLO. */
  heloName: string;
  /** The STARTTLS policy: one for all, or per destination domain (the route key). */
  tls: TlsPolicy | ((domain: string) => TlsPolicy);
  /** PEM trust anchors for `verify` instead of the system store. */
  ca?: string;
  timeouts?: Partial<ClientTimeouts>;
  /** How long an idle connection is kept for reuse. */
  keepAliveMs?: number;
  log: Logger;
}

interface Idle {
  client: SmtpClient;
  timer: ReturnType<typeof setTimeout>;
}

function undelivered(
  recipients: DueRecipient[],
  status: "deferred" | "failed",
  code: number,
  enhanced: string,
  text: string,
  host?: string,
): Outcome[] {
  return recipients.map((r) => ({
    address: r.address,
    status,
    code,
    enhanced,
    text,
    ...(host ? { host } : {}),
  }));
}

/**
 * A session that `required`/`verify` refused to set up (no STARTTLS, STARTTLS
 * refused, handshake or certificate check failed) as a 4.7.x deferral whose
 * text says which policy asked for TLS; `undefined` for any other error.
 */
function tlsFailure(
  error: SmtpClientError,
  policy: TlsPolicy,
  domain: string,
): { code: number; enhanced: string; text: string } | undefined {
  if (!mandatesTls(policy) || !/^TLS /.test(error.text)) return undefined;
  const enhanced = /^4\.7\.\d{1,3}$/.test(error.enhanced) ? error.enhanced : "4.7.5";
  return {
    code: 421,
    enhanced,
    text: `${error.text} (tls_policy ${policy} for ${domain}; not sent in plaintext)`,
  };
}

/** The message as the SMTP client sends it. */
export function outboundMessage(message: DueMessage, recipients: DueRecipient[]): OutboundMessage {
  return {
    sender: message.sender,
    recipients: recipients.map((r) => ({
      address: r.address,
      ...(r.notify ? { notify: r.notify } : {}),
      ...(r.orcpt ? { orcpt: r.orcpt } : {}),
    })),
    data: message.data,
    smtputf8: message.params.smtputf8,
    eightBit: message.params.eightBit,
    ...(message.params.envid !== undefined ? { envid: message.params.envid } : {}),
    ...(message.params.ret ? { ret: message.params.ret } : {}),
  };
}

/** Creates the deliverer for route `smtp` (route key: the domain). */
export function remoteDeliverer(options: RemoteOptions): Deliverer & { close(): Promise<void> } {
  const idle = new Map<string, Idle[]>();
  const keepAliveMs = options.keepAliveMs ?? 5_000;

  const policyFor = typeof options.tls === "function"
    ? options.tls
    : () => options.tls as TlsPolicy;
  // A connection is only reused under the policy it was opened with: an
  // opportunistic one may have fallen back to plaintext, and a verified one
  // was checked against this hop's name.
  const poolKey = (hop: Hop, tls: TlsPolicy) => `${tls} ${hop.name} ${hop.host}:${hop.port}`;
  const take = (hop: Hop, tls: TlsPolicy): SmtpClient | undefined => {
    const pool = idle.get(poolKey(hop, tls));
    const entry = pool?.pop();
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    return entry.client;
  };
  const give = (hop: Hop, tls: TlsPolicy, client: SmtpClient) => {
    const key = poolKey(hop, tls);
    const pool = idle.get(key) ?? [];
    const entry: Idle = {
      client,
      timer: setTimeout(() => {
        pool.splice(pool.indexOf(entry), 1);
        client.quit().catch(() => {});
      }, keepAliveMs),
    };
    pool.push(entry);
    idle.set(key, pool);
  };
  const open = (hop: Hop, tls: TlsPolicy) =>
    SmtpClient.open(options.runtime, {
      host: hop.host,
      port: hop.port,
      heloName: options.heloName,
      tls,
      servername: hop.name,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    });

  /** One attempt on one hop, reusing an idle connection when there is one. */
  const attempt = async (hop: Hop, tls: TlsPolicy, message: OutboundMessage) => {
    const reused = take(hop, tls);
    if (reused) {
      try {
        return { client: reused, results: await reused.send(message) };
      } catch {
        // The remote closed the idle connection meanwhile: start afresh.
        reused.quit().catch(() => {});
      }
    }
    const client = await open(hop, tls);
    // Belt and braces: SmtpClient.open() never returns a plaintext session
    // under required/verify, and nothing must be sent if it ever did.
    if (mandatesTls(tls) && client.tls === undefined) {
      client.close();
      throw new SmtpClientError(421, "4.7.4", "TLS is required, but the session is not encrypted");
    }
    return { client, results: await client.send(message) };
  };

  return {
    async deliver(
      message: DueMessage,
      recipients: DueRecipient[],
      route: Route,
    ): Promise<Outcome[]> {
      const where = await options.nextHops(route.key);
      if (where.kind === "permanent") {
        return undelivered(recipients, "failed", where.code, where.enhanced, where.text);
      }
      if (where.kind === "temporary") {
        return undelivered(recipients, "deferred", 451, "4.4.3", where.text);
      }
      const outbound = outboundMessage(message, recipients);
      const tls = policyFor(route.key);
      let last = {
        code: 451,
        enhanced: "4.4.1",
        text: "No host answered",
        host: undefined as string | undefined,
      };
      let allPermanent = where.hops.length > 0;
      for (const hop of where.hops) {
        try {
          const { client, results } = await attempt(hop, tls, outbound);
          if (client.isOpen) give(hop, tls, client);
          options.log.event("smtp_session", {
            id: message.id,
            host: hop.name,
            policy: tls,
            tls: client.tls?.version ?? "none",
            ...(client.tlsError === undefined ? {} : { tls_error: client.tlsError }),
          });
          return results.map((r): Outcome =>
            r.status === "sent"
              ? {
                address: r.address,
                status: "delivered",
                host: hop.name,
                tls: client.tls !== undefined,
                tlsVersion: client.tls?.version ?? "none",
                remoteDsn: client.extensions.has("DSN"),
              }
              : {
                address: r.address,
                status: r.status,
                code: r.code,
                enhanced: r.enhanced,
                text: r.text,
                // Only the remote's own reply names it as Remote-MTA in a bounce.
                ...(r.remote ? { host: hop.name } : {}),
              }
          );
        } catch (error) {
          const detail = error instanceof SmtpClientError
            ? tlsFailure(error, tls, route.key) ??
              { code: error.code, enhanced: error.enhanced, text: error.text }
            : { code: 451, enhanced: "4.4.1", text: String(error) };
          last = { ...detail, host: hop.name };
          allPermanent &&= error instanceof SmtpClientError && error.permanent &&
            detail.code >= 500;
          options.log.event("smtp_hop_failed", {
            id: message.id,
            host: hop.name,
            reason: detail.text,
          });
          // RFC 5321 §5.1: on a connection failure or refusal, try the next host.
        }
      }
      // Every host refused us for good (e.g. a 554 greeting): that is final.
      if (allPermanent) {
        return undelivered(recipients, "failed", last.code, last.enhanced, last.text, last.host);
      }
      // Otherwise a connection-level failure: try again later (RFC 5321 §4.5.4.1).
      const temporary = last.code < 500 ? last : { ...last, code: 451, enhanced: "4.4.1" };
      return undelivered(
        recipients,
        "deferred",
        temporary.code,
        temporary.enhanced,
        temporary.text,
        last.host,
      );
    },
    async close() {
      // All at once, and a remote that does not answer QUIT within a second
      // is simply cut: shutdown must not wait on it.
      const clients = [...idle.values()].flatMap((pool) => pool.splice(0));
      await Promise.all(clients.map(async ({ client, timer }) => {
        clearTimeout(timer);
        let cut: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          client.quit().catch(() => {}),
          new Promise<void>((resolve) => cut = setTimeout(resolve, 1_000)),
        ]);
        clearTimeout(cut);
        client.close();
      }));
    },
  };
}
