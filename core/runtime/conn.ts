/**
 * The byte-stream seam between the runtimes' native sockets and the SMTP
 * engine. Everything above `core/runtime/` sees only these types.
 *
 * @module
 */

/** An address and port of one end of a connection. */
export interface Endpoint {
  /** IPv4 or IPv6 literal, without brackets. */
  address: string;
  port: number;
}

/** Options for upgrading a live connection to TLS (server side). */
export interface TlsServerOptions {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** Options for upgrading a dialled connection to TLS (client side, RFC 3207). */
export interface TlsClientOptions {
  /** Name sent as SNI and checked against the certificate when `verify` is set. */
  servername: string;
  /**
   * Check the peer's certificate chain and name. Opportunistic SMTP TLS
   * leaves this off (RFC 7435): any encryption beats none.
   */
  verify: boolean;
  /** PEM trust anchors replacing the system store; only used with `verify`. */
  ca?: string;
}

/** What a TLS handshake negotiated. */
export interface TlsInfo {
  /** For example `TLSv1.3`. */
  version: string;
  /** The cipher suite name, for example `TLS_AES_256_GCM_SHA384`. */
  cipher: string;
  /** Whether the peer's certificate chain was verified. */
  authorized: boolean;
}

/**
 * One accepted or dialled TCP connection.
 *
 * `read()` yields chunks in arrival order and `null` at end of stream; it is
 * pull-based so a slow consumer never makes the adapter buffer without bound.
 */
export interface Conn {
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** Next chunk of bytes, or `null` once the peer has closed. */
  read(): Promise<Uint8Array | null>;
  /** Writes all of `data`; resolves when the runtime has taken it. */
  write(data: Uint8Array): Promise<void>;
  /** Closes the connection; safe to call more than once. */
  close(): void;
  /**
   * Upgrades this connection to TLS as the server (RFC 3207) and returns the
   * encrypted connection. Bytes already read but not consumed stay with the
   * caller: STARTTLS must discard them (CVE-2011-0411).
   */
  startTls(options: TlsServerOptions): Promise<Conn>;
  /**
   * Upgrades this connection to TLS as the client (RFC 3207) and returns the
   * encrypted connection, or rejects when the handshake fails (including a
   * failed certificate check with `verify`). The plaintext connection is
   * closed on failure; unread plaintext bytes are never carried over.
   */
  startTlsClient(options: TlsClientOptions): Promise<Conn>;
  /** What the TLS handshake negotiated; `undefined` on a plaintext connection. */
  readonly tlsInfo?: TlsInfo | undefined;
}

/** A bound listening socket. */
export interface Listener {
  readonly local: Endpoint;
  /** Stops accepting; live connections are untouched. */
  close(): void;
}

/** What a listener does with each accepted connection. */
export type ConnHandler = (conn: Conn) => void;

/** Options for {@linkcode Runtime.listen}. */
export interface ListenOptions {
  hostname: string;
  /** 0 picks a free port; read it back from `Listener.local.port`. */
  port: number;
}

/** Options for {@linkcode Runtime.connect}. */
export interface ConnectOptions {
  hostname: string;
  port: number;
}

/** Splits `host:port` or `[v6]:port` into its parts. */
export function parseHostPort(text: string): { hostname: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match) throw new TypeError(`expected HOST:PORT, got "${text}"`);
  if (!Number.isInteger(port) || port > 65535) {
    throw new TypeError(`port must be 0..65535, got "${text}"`);
  }
  return { hostname: match[1] as string, port };
}
