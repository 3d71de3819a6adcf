/**
 * `postino send`: sendmail-compatible submission for local programs (cron,
 * scripts, `mail`). It reads the message on stdin and commits it straight
 * to the spool in `<data-dir>/postino.db`, with no network hop; a running
 * server's scheduler polls the spool every 5 s and delivers it.
 *
 * Choices, where sendmail implementations differ:
 * - The default envelope sender is `$USER@HOSTNAME` (sendmail's and
 *   Postfix's default origin), or `postmaster@FIRST-DOMAIN` when the login
 *   name is not a usable local part. Unqualified `-f` senders get
 *   `@HOSTNAME` too.
 * - Unqualified recipients get `@FIRST-DOMAIN`, so `postino send root`
 *   reaches a local mailbox rather than the host name's MX.
 * - `-t` adds the header recipients to those on the command line
 *   (Postfix's behaviour), and `Bcc:` is always removed from the copy.
 * - Input always runs to EOF: a line with a single "." never ends it, so
 *   `-i`/`-oi` are accepted and change nothing.
 * - One unknown local recipient fails the whole submission (exit 1) and
 *   nothing is queued, so the caller learns at once.
 *
 * The header helpers live here rather than in their own files because this
 * command is their only user.
 *
 * @module
 */
import { userInfo } from "node:os";
import process from "node:process";
import { parseArgs } from "node:util";
import { ConfigError } from "../core/config.ts";
import { newQueueId } from "../core/queue/queue_id.ts";
import type { SpoolParams, SpoolRecipient } from "../core/queue/spool.ts";
import { SqliteSpool } from "../core/queue/sqlite_spool.ts";
import { type Mailbox, parseMailbox } from "../core/smtp/address.ts";
import { concatBytes, Message } from "../core/smtp/message.ts";
import type { RcptParams } from "../core/smtp/params.ts";
import { rfc5322Date } from "../core/smtp/received.ts";
import { Directory } from "../core/store/directory.ts";
import { expandRecipient } from "../plugins/spool.ts";
import type { ServeFlags } from "./config_file.ts";
import type { QueueIo } from "./queue.ts";
import { loadConfig } from "./serve.ts";

/** The user running `postino send`, for the default sender and `Received:`. */
export interface LocalUser {
  name: string;
  uid: number | undefined;
}

/** What `postino send` needs from the outside world, so tests can fake it. */
export interface SendIo extends QueueIo {
  /** Reads all of standard input as bytes (the message may not be UTF-8). */
  readStdinBytes(): Promise<Uint8Array>;
  user: LocalUser;
}

/** Usage of `postino send`. */
export const SEND_USAGE = `Usage: postino send [options] [RECIPIENT...] < message

Queues the message on stdin for delivery, like sendmail. Prints nothing and
exits 0 once the message is safely queued.

Options:
  -f, -r SENDER      envelope sender (default $USER@HOSTNAME; "<>" for none)
  -F NAME            full name for the From: header added when there is none
  -t                 also take recipients from the To:, Cc: and Bcc: headers
  -N DSN             never, or any of success,failure,delay (RFC 3461 NOTIFY)
  -R RET             full or hdrs: what a bounce returns (RFC 3461 RET)
  -V ENVID           envelope id for DSNs
  -v                 print the queue id
  --data-dir DIR     where postino.db lives (default ./data, or the config's)
  --config FILE      TOML config file, for the domains and host name
  --hostname NAME    host name for Received:, Message-ID: and the default sender
  --domain DOMAIN    local domain (repeatable; default localhost)
  -h, --help         show this help
Accepted and ignored for compatibility: -i, -oX (e.g. -oi, -odi, -oem),
-OX=Y, -bm, -B TYPE, -U, -G. Input always runs to end of file.
Unqualified recipients get @FIRST-DOMAIN. Exit codes: 0 queued, 1 failed
(no such user, no database), 2 bad usage or address.`;

const OPTIONS = {
  from: { type: "string", short: "f" },
  "return-path": { type: "string", short: "r" },
  "full-name": { type: "string", short: "F" },
  "read-headers": { type: "boolean", short: "t" },
  notify: { type: "string", short: "N" },
  ret: { type: "string", short: "R" },
  envid: { type: "string", short: "V" },
  verbose: { type: "boolean", short: "v" },
  "ignore-dots": { type: "boolean", short: "i" },
  option: { type: "string", short: "o", multiple: true },
  "long-option": { type: "string", short: "O", multiple: true },
  mode: { type: "string", short: "b" },
  body: { type: "string", short: "B" },
  initial: { type: "boolean", short: "U" },
  gateway: { type: "boolean", short: "G" },
  "data-dir": { type: "string" },
  config: { type: "string" },
  hostname: { type: "string" },
  domain: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * The login name (`$USER`, `$LOGNAME`, then the passwd entry) and uid of
 * this process: the production {@linkcode SendIo.user}.
 */
export function invokingUser(): LocalUser {
  const env = process.env["USER"] || process.env["LOGNAME"];
  try {
    const info = userInfo();
    return { name: env || info.username, uid: info.uid >= 0 ? info.uid : undefined };
  } catch {
    // userInfo() throws when the uid has no passwd entry (some containers).
    return { name: env ?? "", uid: undefined };
  }
}

/** Reads all of this process's standard input: the production {@linkcode SendIo.readStdinBytes}. */
export async function readStdinBytes(): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  return concatBytes(chunks);
}

/**
 * The addr-specs in an RFC 5322 §3.4 address list, such as a `To:` value:
 * display names, comments and group names are dropped.
 *
 * @example
 * ```ts
 * parseAddressList(`"Doe, J" <j@example.com>, team: a@example.org, b@x;`);
 * // → ["j@example.com", "a@example.org", "b@x"]
 * ```
 */
export function parseAddressList(text: string): string[] {
  const found: string[] = [];
  let bare = "";
  let angled: string | undefined;
  const push = () => {
    // A source route in brackets (`<@a,@b:c@d>`) is obsolete syntax: drop it.
    const address = (angled?.replace(/^@[^:]*:/, "") ?? bare).trim();
    if (address !== "") found.push(address);
    bare = "";
    angled = undefined;
  };
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (depth > 0) { // inside a comment (RFC 5322 §3.2.2), which may nest
      if (ch === "\\") i++;
      else if (ch === "(") depth++;
      else if (ch === ")") depth--;
    } else if (ch === "(") depth = 1;
    else if (ch === '"' || ch === "[") { // quoted string or domain literal: copy whole
      const close = ch === '"' ? '"' : "]";
      let j = i + 1;
      while (j < text.length && text[j] !== close) j += text[j] === "\\" ? 2 : 1;
      bare += text.slice(i, j + 1);
      i = j;
    } else if (ch === "<") {
      const close = text.indexOf(">", i);
      angled = text.slice(i + 1, close === -1 ? text.length : close);
      i = close === -1 ? text.length : close;
    } else if (ch === ":") bare = ""; // a group's display name
    else if (ch === "," || ch === ";") push();
    else bare += ch;
  }
  push();
  return found;
}

/** Rewrites every line ending (CRLF, bare LF, bare CR) as CRLF, and ends with one. */
export function toCrlf(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.byteLength * 2 + 2);
  let n = 0;
  for (let i = 0; i < data.byteLength; i++) {
    const byte = data[i] as number;
    if (byte === 13 || byte === 10) {
      out[n++] = 13;
      out[n++] = 10;
      if (byte === 13 && data[i + 1] === 10) i++;
    } else out[n++] = byte;
  }
  if (n > 0 && out[n - 1] !== 10) {
    out[n++] = 13;
    out[n++] = 10;
  }
  return out.slice(0, n);
}

/** Whether `line` starts with `field-name:` (RFC 5322 §2.2). */
function isFieldStart(line: Uint8Array): boolean {
  let i = 0;
  while (i < line.byteLength && line[i] !== 58) {
    const byte = line[i] as number;
    if (byte < 0x21 || byte > 0x7e) return false;
    i++;
  }
  return i > 0 && i < line.byteLength;
}

/**
 * Makes sure a blank line parts the header fields from the body, the way
 * sendmail reads local input: a leading mbox `From ` line goes, and the body
 * starts at the first line that is not a header field. `data` is CRLF text.
 */
export function separateBody(data: Uint8Array): Uint8Array {
  let start = 0;
  if (new TextDecoder().decode(data.subarray(0, 5)) === "From ") {
    const eol = data.indexOf(10);
    start = eol === -1 ? data.byteLength : eol + 1;
  }
  for (let at = start; at < data.byteLength;) {
    const eol = data.indexOf(10, at);
    const end = eol === -1 ? data.byteLength : eol + 1;
    const line = data.subarray(at, end);
    if (line[0] === 13 && line[1] === 10) break; // the blank line is there already
    const folded = at > start && (line[0] === 32 || line[0] === 9);
    if (!folded && !isFieldStart(line)) {
      return concatBytes([data.subarray(start, at), new Uint8Array([13, 10]), data.subarray(at)]);
    }
    at = end;
  }
  return data.subarray(start);
}

/** `"Name" <address>`, RFC 2047-encoding a name that is not ASCII. */
function fromValue(name: string | undefined, address: string): string {
  if (name === undefined || name === "") return address;
  const encoded = /^[\x20-\x7e]*$/.test(name)
    ? `"${name.replace(/["\\]/g, "\\$&")}"`
    : `=?UTF-8?B?${btoa(String.fromCharCode(...new TextEncoder().encode(name)))}?=`;
  return `${encoded} <${address}>`;
}

function hasEightBit(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if ((data[i] as number) > 127) return true;
  return false;
}

/**
 * The envelope sender: `-f` as given (bare names get `@hostname`, `<>` or
 * `""` is the null path), or by default the invoking user at `hostname`,
 * else `postmaster@primary`. `undefined` for an invalid `-f`.
 */
function envelopeSender(
  given: string | undefined,
  user: LocalUser,
  hostname: string,
  primary: string,
): Mailbox | null | undefined {
  if (given === undefined) {
    return parseMailbox(`${user.name}@${hostname}`) ?? parseMailbox(`postmaster@${primary}`);
  }
  const bare = given.trim().replace(/^<(.*)>$/, "$1");
  if (bare === "") return null;
  return parseMailbox(bare.includes("@") ? bare : `${bare}@${hostname}`);
}

/** Adds the trace field, and the Date, Message-ID and From the message lacks. */
function stampHeaders(
  message: Message,
  stamp: {
    id: string;
    date: Date;
    hostname: string;
    user: LocalUser;
    sender: Mailbox | null;
    fullName: string | undefined;
  },
): void {
  const { id, hostname, user } = stamp;
  const date = rfc5322Date(stamp.date);
  const who = user.uid === undefined ? user.name : `uid ${user.uid}/${user.name}`;
  // RFC 5321 §4.4: every MTA that takes the message in adds a trace field.
  message.prepend(
    "Received",
    `from local (${
      who || "unknown"
    })\r\n\tby ${hostname} (Postino) with local id ${id};\r\n\t${date}`,
  );
  // RFC 5322 §3.6: Date and From are required; sendmail adds Message-ID too.
  if (message.get("Date") === undefined) message.append("Date", date);
  if (message.get("Message-ID") === undefined) message.append("Message-ID", `<${id}@${hostname}>`);
  if (message.get("From") === undefined) {
    const address = stamp.sender?.address ?? `MAILER-DAEMON@${hostname}`;
    message.append("From", fromValue(stamp.fullName, address));
  }
}

/**
 * Expands each recipient through the directory (aliases, local users);
 * remote ones pass as they are. Local addresses that lead nowhere are
 * returned in `unknown`.
 */
function expandAll(
  directory: Directory,
  mailboxes: Mailbox[],
  params: RcptParams,
  isLocalDomain: (domain: string) => boolean,
): { recipients: SpoolRecipient[]; unknown: string[] } {
  const view = {
    resolve: (address: string) => directory.resolve(address, isLocalDomain),
    isUser: (address: string) => directory.getUser(address) !== undefined,
  };
  const recipients: SpoolRecipient[] = [];
  const unknown: string[] = [];
  for (const mailbox of mailboxes) {
    const expanded = expandRecipient({ mailbox, params }, { directory: view, isLocalDomain });
    if (expanded.length === 0) unknown.push(mailbox.address);
    for (const r of expanded) {
      if (!recipients.some((seen) => seen.address === r.address)) recipients.push(r);
    }
  }
  return { recipients, unknown };
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * Runs `postino send [options] [RECIPIENT...]`: queues the message read
 * from stdin.
 *
 * @param args The arguments after `send`, e.g. `["-f", "app@example.com", "bob@example.com"]`.
 * @param io Output, stdin, the invoking user, the clock and the database.
 * @returns The exit code: 0 queued, 1 failed, 2 bad usage or address.
 *
 * @example
 * ```ts
 * // printf 'Subject: hi\n\nhello\n' | postino send -f app@example.com bob@example.com
 * const code = await runSendCommand(["-f", "app@example.com", "bob@example.com"], io);
 * ```
 */
export async function runSendCommand(args: string[], io: SendIo): Promise<number> {
  const fail = (code: number, message: string) => {
    io.stderr(`postino send: ${message}`);
    return code;
  };
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: OPTIONS,
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`postino send: ${message.split("\n", 1)[0]}`);
    io.stderr(`Run "postino send --help" for the options.`);
    return 2;
  }
  if (values.help) {
    io.stdout(SEND_USAGE);
    return 0;
  }
  if (values.mode !== undefined && values.mode !== "m") {
    return fail(2, `-b${values.mode} is not supported (only -bm; see "postino queue")`);
  }
  const notify = values.notify?.toUpperCase().split(",");
  if (
    notify &&
    !(notify.join() === "NEVER" ||
      notify.every((n) => n === "SUCCESS" || n === "FAILURE" || n === "DELAY"))
  ) {
    return fail(2, `bad -N value: ${values.notify}`);
  }
  const ret = values.ret?.toUpperCase();
  if (ret !== undefined && ret !== "FULL" && ret !== "HDRS") {
    return fail(2, `bad -R value: ${values.ret} (full or hdrs)`);
  }

  const flags: ServeFlags = {
    ...(values.hostname === undefined ? {} : { hostname: values.hostname }),
    ...(values.domain === undefined ? {} : { domain: values.domain }),
    ...(values["data-dir"] === undefined ? {} : { "data-dir": values["data-dir"] }),
  };
  let config;
  try {
    config = await loadConfig(values.config, flags);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(2, error.message);
  }
  const primary = config.domains[0] as string;
  const local = new Set(config.domains);
  const isLocalDomain = (domain: string) => local.has(domain.toLowerCase());

  const given = text(values.from ?? values["return-path"]);
  const sender = envelopeSender(given, io.user, config.hostname, primary);
  if (sender === undefined) return fail(2, `bad sender address: ${given}`);

  // The message: CRLF only (RFC 5322 §2.3), and a blank line before the body.
  const raw = await io.readStdinBytes();
  const message = Message.parse(separateBody(toCrlf(raw)));

  // The recipients, from the arguments and, with -t, the headers.
  const wanted = positionals.flatMap(parseAddressList);
  if (values["read-headers"]) {
    for (const name of ["To", "Cc", "Bcc"]) {
      for (const value of message.getAll(name)) wanted.push(...parseAddressList(value));
    }
  }
  // Blind copies must not show up in anyone's copy (RFC 5322 §3.6.3).
  message.remove("Bcc");
  const mailboxes: Mailbox[] = [];
  for (const address of wanted) {
    const mailbox = parseMailbox(address.includes("@") ? address : `${address}@${primary}`);
    if (mailbox === undefined) return fail(2, `bad recipient address: ${address}`);
    if (!mailboxes.some((m) => m.address === mailbox.address)) mailboxes.push(mailbox);
  }
  if (mailboxes.length === 0) {
    return fail(2, "no recipients (give addresses, or -t with To:/Cc:/Bcc:)");
  }

  const now = io.now();
  const id = newQueueId(now);
  stampHeaders(message, {
    id,
    date: new Date(now),
    hostname: config.hostname,
    user: io.user,
    sender,
    fullName: values["full-name"],
  });
  const data = message.toBytes();
  if (data.byteLength > config.maxMessageSize) {
    return fail(1, `message too big: ${data.byteLength} octets (limit ${config.maxMessageSize})`);
  }

  let db;
  try {
    db = await io.openDatabase(config.dataDir);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return fail(1, error.message);
  }
  try {
    const params: RcptParams = notify ? { notify: notify as RcptParams["notify"] & string[] } : {};
    const { recipients, unknown } = expandAll(new Directory(db), mailboxes, params, isLocalDomain);
    if (unknown.length > 0) return fail(1, `no such user: ${unknown.join(", ")}`);
    const spool = new SqliteSpool(db);
    if (spool.count() >= config.maxQueued) return fail(1, "the queue is full, try again later");
    const spoolParams: SpoolParams = {
      smtputf8: (sender?.utf8 ?? false) || mailboxes.some((m) => m.utf8) ||
        // deno-lint-ignore no-control-regex
        recipients.some((r) => /[^\x00-\x7f]/.test(r.address)),
      eightBit: values.body?.toUpperCase() === "8BITMIME" || hasEightBit(data),
      ...(ret === undefined ? {} : { ret }),
      ...(values.envid === undefined ? {} : { envid: values.envid }),
    };
    await spool.put({
      id,
      sender: sender?.address ?? "",
      params: spoolParams,
      data,
      receivedAt: now,
      isBounce: false,
      recipients,
    });
  } finally {
    db.close();
  }
  if (values.verbose) io.stdout(id);
  return 0;
}
