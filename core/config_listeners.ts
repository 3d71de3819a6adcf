/**
 * The listeners of a configuration: `listen` (port 25 style), `submission`,
 * `tls_listen` (implicit TLS), `odmr`, which of them sit behind a proxy,
 * and the certificate they need.
 *
 * @module
 */
import { ConfigError, type RawConfig } from "./config_error.ts";
import { parseHostPort } from "./runtime/conn.ts";

/** One listening socket and what it is for. */
export interface ListenerSpec {
  hostname: string;
  port: number;
  /**
   * `submission` (RFC 6409) requires AUTH before MAIL; `odmr` (RFC 2645,
   * port 366) too, and is where ATRN collectors connect.
   */
  kind: "smtp" | "submission" | "odmr";
  /** TLS from the first byte (RFC 8314), instead of STARTTLS. */
  implicitTls: boolean;
  /** The peer is a proxy that sends a PROXY protocol header first. */
  proxy: boolean;
}

/** Builds every listener from the raw settings; `listen` is already parsed. */
export function listenersFrom(
  raw: RawConfig,
  source: string,
  listen: readonly { hostname: string; port: number }[],
): { listeners: ListenerSpec[]; tls: { cert: string; key: string } | undefined } {
  const addresses = (key: string) =>
    ((raw[key] as string[] | undefined) ?? []).map((text) => {
      try {
        return parseHostPort(text);
      } catch (error) {
        throw new ConfigError(source, key, (error as Error).message);
      }
    });
  const tlsTable = (raw.tls as Record<string, unknown> | undefined) ?? {};
  for (const [key, value] of Object.entries(tlsTable)) {
    if (key !== "cert" && key !== "key") {
      throw new ConfigError(source, `tls.${key}`, "unknown setting");
    }
    if (typeof value !== "string") {
      throw new ConfigError(source, `tls.${key}`, "must be a file path");
    }
  }
  const cert = (raw.tls_cert as string | undefined) ?? (tlsTable.cert as string | undefined);
  const key = (raw.tls_key as string | undefined) ?? (tlsTable.key as string | undefined);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      source,
      cert === undefined ? "tls_cert" : "tls_key",
      "TLS needs both a certificate and a key",
    );
  }
  const tls = cert !== undefined && key !== undefined ? { cert, key } : undefined;
  const proxied = new Set(addresses("proxy_listen").map((a) => `${a.hostname}:${a.port}`));
  const listeners: ListenerSpec[] = [
    ...listen.map((a) => ({ ...a, kind: "smtp" as const, implicitTls: false })),
    ...addresses("submission").map((a) => ({
      ...a,
      kind: "submission" as const,
      implicitTls: false,
    })),
    ...addresses("tls_listen").map((a) => ({
      ...a,
      kind: "submission" as const,
      implicitTls: true,
    })),
    ...addresses("odmr").map((a) => ({ ...a, kind: "odmr" as const, implicitTls: false })),
  ].map((l) => ({ ...l, proxy: proxied.delete(`${l.hostname}:${l.port}`) }));
  if (proxied.size > 0) {
    throw new ConfigError(
      source,
      "proxy_listen",
      `${[...proxied].join(", ")} is not one of the listeners`,
    );
  }
  if (!tls && listeners.some((l) => l.kind !== "smtp")) {
    throw new ConfigError(
      source,
      listeners.some((l) => l.kind === "submission") ? "submission" : "odmr",
      "submission, tls_listen and odmr need tls_cert and tls_key (AUTH needs TLS)",
    );
  }
  if (listen.length === 0 && listeners.length === 0) {
    throw new ConfigError(source, "listen", "needs at least one address");
  }
  return { listeners, tls };
}
