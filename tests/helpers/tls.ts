/**
 * Test certificates made with the machine's `openssl`: a throwaway CA and a
 * leaf certificate for `localhost` / 127.0.0.1 signed by it, written into a
 * temporary directory. Works the same under `deno test` and `bun test`.
 *
 * @example
 * ```ts
 * const certs = makeCerts();
 * const server = await startServer({
 *   config: `tls_cert = "${certs.certPath}"\ntls_key = "${certs.keyPath}"\n`,
 * });
 * // … later, a renewal at the same paths (then SIGHUP the server):
 * const renewed = makeCerts({ dir: certs.dir, commonName: "renewed.localhost" });
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { tempDir } from "./server.ts";
import { ReplyReader } from "./reply_reader.ts";

/** A CA and a leaf certificate on disk, with their PEM text. */
export interface TestCerts {
  /** The directory that holds every file below. */
  dir: string;
  caPath: string;
  caPem: string;
  /** The leaf certificate for `localhost` and 127.0.0.1 (what the server serves). */
  certPath: string;
  certPem: string;
  /** The leaf's private key (unencrypted PEM). */
  keyPath: string;
  keyPem: string;
  /** The leaf's SHA-256 fingerprint as `AB:CD:…`, the format of node:tls `fingerprint256`. */
  fingerprint256: string;
  /** The leaf's subject common name. */
  commonName: string;
}

/** Options for {@linkcode makeCerts}. */
export interface MakeCertsOptions {
  /** Where to write (default: a fresh temp dir). Existing files are replaced. */
  dir?: string;
  /** The leaf's common name (default `localhost`); a new name makes a different certificate. */
  commonName?: string;
}

function openssl(args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Makes a CA (reused when `dir` already has one) and a fresh EC P-256 leaf
 * signed by it, valid for two days. The leaf is written to `cert.pem` and
 * `key.pem` in `dir`, so calling again with the same `dir` renews the
 * certificate in place.
 */
export function makeCerts(options: MakeCertsOptions = {}): TestCerts {
  const dir = options.dir ?? tempDir("postino-tls-");
  const commonName = options.commonName ?? "localhost";
  const caPath = join(dir, "ca.pem");
  const caKeyPath = join(dir, "ca.key");
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  if (!existsSync(caPath) || !existsSync(caKeyPath)) {
    openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      caKeyPath,
      "-out",
      caPath,
      "-days",
      "2",
      "-subj",
      "/CN=Postino Test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  }
  // `req -x509 -CA` signs the new key with the CA directly (OpenSSL 3.0+).
  openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "2",
    "-CA",
    caPath,
    "-CAkey",
    caKeyPath,
    "-subj",
    `/CN=${commonName}`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ]);
  return {
    dir,
    caPath,
    caPem: readFileSync(caPath, "utf8"),
    certPath,
    certPem: readFileSync(certPath, "utf8"),
    keyPath,
    keyPem: readFileSync(keyPath, "utf8"),
    fingerprint256: fingerprint256(certPath),
    commonName,
  };
}

/** The SHA-256 fingerprint of the PEM certificate at `path`, as `AB:CD:…`. */
export function fingerprint256(path: string): string {
  const out = openssl(["x509", "-in", path, "-noout", "-fingerprint", "-sha256"]);
  const match = /Fingerprint=([0-9A-F:]+)/i.exec(out);
  if (!match?.[1]) throw new Error(`no fingerprint in openssl output: ${out}`);
  return match[1].toUpperCase();
}

/** The config lines that point the server at `certs`. */
export function tlsConfig(certs: TestCerts): string {
  return `tls_cert = ${JSON.stringify(certs.certPath)}\ntls_key = ${
    JSON.stringify(certs.keyPath)
  }\n`;
}

/**
 * Every listener port the server announced, in config order (`listen`,
 * then `submission`, then `tls_listen`): the server logs one
 * `listening address=… port=N` line per listener.
 */
export function listenerPorts(output: string): number[] {
  return [...output.matchAll(/ listening address=\S+ port=(\d+)/g)].map((m) => Number(m[1]));
}

/** Waits until `count` listeners are up, and returns their ports in config order. */
export async function waitForListeners(
  server: { output(): string; waitFor(pattern: RegExp, timeoutMs?: number): Promise<void> },
  count: number,
): Promise<number[]> {
  await server.waitFor(new RegExp(`(?: listening address=\\S+ port=\\d+[\\s\\S]*?){${count}}`));
  return listenerPorts(server.output()).slice(0, count);
}

/** `AUTH PLAIN`'s response (RFC 4616): base64 of `authzid NUL user NUL password`. */
export function plainResponse(user: string, password: string, authzid = ""): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`, "utf8").toString("base64");
}

/** Base64 of UTF-8 text (AUTH LOGIN's responses). */
export function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/**
 * A line client for SMTP over TCP that can switch to TLS on the same
 * socket (STARTTLS) or use TLS from the start (implicit TLS). It never
 * checks the server's certificate: the tests read it instead.
 */
export class SmtpConn {
  #socket: Socket | TLSSocket;
  /** The TCP socket under a STARTTLS upgrade, closed along with it. */
  #plain: Socket | undefined;
  #in = new ReplyReader();
  #onData = (chunk: Uint8Array) => this.#in.push(Buffer.from(chunk).toString("latin1"));
  #onClose = () => this.#in.close();

  private constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Connects to 127.0.0.1:`port`, in plaintext or with implicit TLS. */
  static connect(port: number, options: { tls?: boolean } = {}): Promise<SmtpConn> {
    return new Promise((resolve, reject) => {
      if (options.tls) {
        const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false });
        socket.once("secureConnect", () => resolve(new SmtpConn(socket)));
        socket.once("error", reject);
      } else {
        const socket = netConnect({ host: "127.0.0.1", port }, () => resolve(new SmtpConn(socket)));
        socket.once("error", reject);
      }
    });
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on("data", this.#onData);
    socket.on("close", this.#onClose);
    socket.on("error", this.#onClose);
  }

  #detach(socket: Socket | TLSSocket): void {
    socket.off("data", this.#onData);
    socket.off("close", this.#onClose);
    socket.off("error", this.#onClose);
  }

  /** The current socket (a TLSSocket once encrypted). */
  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#in.closed;
  }

  /** Everything received and not yet read as a reply. */
  get unread(): string {
    return this.#in.unread;
  }

  /** Sends bytes exactly as given. */
  write(data: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(Buffer.from(data, "latin1"), (error) => error ? reject(error) : resolve());
    });
  }

  /** Sends one line with CRLF. */
  send(line: string): Promise<void> {
    return this.write(line + "\r\n");
  }

  /** Waits for one complete (possibly multi-line) reply and returns its lines. */
  reply(timeoutMs?: number): Promise<string[]> {
    return this.#in.reply(timeoutMs);
  }

  /** The last line of the next reply. */
  async last(timeoutMs?: number): Promise<string> {
    const lines = await this.reply(timeoutMs);
    return lines[lines.length - 1] as string;
  }

  /** Sends `line` and returns the last line of its reply. */
  async command(line: string, timeoutMs?: number): Promise<string> {
    await this.send(line);
    return await this.last(timeoutMs);
  }

  /**
   * Runs the TLS handshake over the current socket (after the server's 220
   * to STARTTLS). Bytes left unread from the plaintext phase are dropped.
   */
  startTls(): Promise<TLSSocket> {
    const plain = this.#socket as Socket;
    this.#plain = plain;
    this.#detach(plain);
    this.#in.clear();
    return new Promise((resolve, reject) => {
      const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
      secure.once("secureConnect", () => {
        secure.off("error", reject);
        this.#socket = secure;
        this.#attach(secure);
        resolve(secure);
      });
      secure.once("error", reject);
    });
  }

  /** Waits until the server closes the connection. */
  waitClosed(timeoutMs?: number): Promise<void> {
    return this.#in.waitClosed(timeoutMs);
  }

  /** Closes the connection at once (on Deno, destroying the TLS layer alone may leave TCP open). */
  close(): void {
    this.#socket.destroy();
    this.#plain?.destroy();
  }
}

/** What {@linkcode openSession} should do after the greeting. */
export interface OpenOptions {
  /** Implicit TLS: the port speaks TLS from the first byte. */
  implicitTls?: boolean;
  /** Do STARTTLS (ignored with `implicitTls`). */
  starttls?: boolean;
  /** Log in with AUTH PLAIN (needs TLS). */
  auth?: { user: string; password: string };
}

/**
 * Connects, reads the 220, says EHLO, optionally does STARTTLS (and EHLO
 * again) and AUTH PLAIN, asserting each step's reply code. The client is
 * left in the greeted state.
 */
export async function openSession(port: number, options: OpenOptions = {}): Promise<SmtpConn> {
  const client = await SmtpConn.connect(port, { tls: options.implicitTls ?? false });
  const expect = (line: string, code: string, step: string) => {
    if (!line.startsWith(code)) throw new Error(`${step}: expected ${code}, got ${line}`);
  };
  expect(await client.last(), "220", "greeting");
  expect(await client.command("EHLO client.example"), "250", "EHLO");
  if (options.starttls && !options.implicitTls) {
    expect(await client.command("STARTTLS"), "220", "STARTTLS");
    await client.startTls();
    expect(await client.command("EHLO client.example"), "250", "EHLO after STARTTLS");
  }
  if (options.auth) {
    const { user, password } = options.auth;
    expect(await client.command(`AUTH PLAIN ${plainResponse(user, password)}`), "235", "AUTH");
  }
  return client;
}

/** The Maildir files of `address` under `dataDir` that contain `token`. */
export function maildirFilesWith(dataDir: string, address: string, token: string): string[] {
  const at = address.lastIndexOf("@");
  const dir = join(dataDir, "mail", address.slice(at + 1), address.slice(0, at), "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((name) => join(dir, name)).filter((path) =>
    readFileSync(path, "latin1").includes(token)
  );
}
