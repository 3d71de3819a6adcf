/**
 * Reads the Maildirs that local delivery writes
 * (`<mailRoot>/<domain>/<local>/{new,cur,tmp}`, segments escaped by
 * {@linkcode safeSegment}), for the admin API and the web UI. It only
 * reads: listing mailboxes, listing a mailbox's messages with a few header
 * fields, and returning one message's bytes.
 *
 * Addresses and message ids come from URLs, so both are checked before they
 * touch a path: an address is turned into segments by `safeSegment` (which
 * escapes separators, `%` and a leading dot), an id must look like a Maildir
 * file name, and the final path must still lie inside the mailbox.
 *
 * @example
 * ```ts
 * const boxes = await listMailboxes("/var/lib/postino/mail");
 * const page = await listMessages("/var/lib/postino/mail", "alice@example.org", { limit: 20 });
 * const bytes = await readMessage("/var/lib/postino/mail", "alice@example.org", page[0]!.id);
 * ```
 *
 * @module
 */
import { open, readdir, readFile, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { maildirPath } from "../delivery/maildir.ts";
import { firstFields } from "./header_fields.ts";

/** One mailbox and how many messages it holds (`new` + `cur`). */
export interface MailboxSummary {
  address: string;
  messages: number;
}

/** One message in a mailbox listing. */
export interface MessageSummary {
  /** The file name, which is the id for {@linkcode readMessage}. */
  id: string;
  folder: "new" | "cur";
  size: number;
  /** The file's mtime, ms since the epoch. */
  receivedAt: number;
  from: string;
  to: string;
  subject: string;
  date: string;
  messageId: string;
}

/** Paging for {@linkcode listMessages}. */
export interface ListOptions {
  limit?: number;
  offset?: number;
}

const FOLDERS = ["new", "cur"] as const;
/** Enough for any sane header block; the rest of the message is not read. */
const HEADER_LIMIT = 64 * 1024;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
/** Maildir names: `time.unique.host`, plus `:2,FLAGS` and `,S=size` info. */
const MESSAGE_ID = /^[A-Za-z0-9_][A-Za-z0-9._:,=+\-]{0,254}$/;

/** Reverses `safeSegment`: `%xx` back to the character. */
export function decodeSegment(segment: string): string {
  return segment.replace(
    /%([0-9a-fA-F]{2})/g,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * Whether `address` may name a mailbox: `local@domain`, both parts
 * non-empty, no control characters, at most 320 characters (RFC 5321
 * §4.5.3.1 limits). Separators and dots are safe: `safeSegment` escapes them.
 */
export function isMailboxAddress(address: string): boolean {
  const at = address.lastIndexOf("@");
  return at > 0 && at < address.length - 1 && address.length <= 320 &&
    !CONTROL.test(address);
}

/** Whether `id` looks like a Maildir file name (no separators, no dot files). */
export function isMessageId(id: string): boolean {
  return MESSAGE_ID.test(id);
}

/** The mailbox folder of `address`, or undefined if it would leave `mailRoot`. */
function mailboxDir(mailRoot: string, address: string): string | undefined {
  if (!isMailboxAddress(address)) return undefined;
  const root = resolve(mailRoot);
  const dir = resolve(maildirPath(root, address));
  // Belt and braces: the escaped segments can never climb out, but check.
  return dir.startsWith(root + sep) ? dir : undefined;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function isDir(path: string): Promise<boolean> {
  return await stat(path).then((s) => s.isDirectory(), () => false);
}

/** Message file names in one folder (dot files are Maildir's own). */
async function messageFiles(dir: string, folder: string): Promise<string[]> {
  return (await entries(join(dir, folder))).filter((name) => isMessageId(name));
}

/** Every mailbox under `mailRoot`, sorted by address. */
export async function listMailboxes(mailRoot: string): Promise<MailboxSummary[]> {
  const boxes: MailboxSummary[] = [];
  for (const domain of await entries(mailRoot)) {
    if (domain.startsWith(".")) continue;
    for (const local of await entries(join(mailRoot, domain))) {
      if (local.startsWith(".")) continue;
      const dir = join(mailRoot, domain, local);
      if (!await isDir(join(dir, "new")) && !await isDir(join(dir, "cur"))) continue;
      let messages = 0;
      for (const folder of FOLDERS) messages += (await messageFiles(dir, folder)).length;
      boxes.push({ address: `${decodeSegment(local)}@${decodeSegment(domain)}`, messages });
    }
  }
  return boxes.sort((a, b) => a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
}

/** Whether `address` has a Maildir under `mailRoot`. */
export async function mailboxExists(mailRoot: string, address: string): Promise<boolean> {
  const dir = mailboxDir(mailRoot, address);
  return dir !== undefined && await isDir(dir);
}

/** How many messages the mailbox of `address` holds (`new` + `cur`); 0 if none. */
export async function countMessages(mailRoot: string, address: string): Promise<number> {
  const dir = mailboxDir(mailRoot, address);
  if (dir === undefined) return 0;
  let n = 0;
  for (const folder of FOLDERS) n += (await messageFiles(dir, folder)).length;
  return n;
}

interface FileEntry {
  id: string;
  folder: "new" | "cur";
  path: string;
  size: number;
  mtime: number;
}

/**
 * The messages of `address`, newest first, with their main header fields
 * (unfolded, RFC 2047 encoded-words decoded). An unknown or invalid address
 * gives an empty list.
 */
export async function listMessages(
  mailRoot: string,
  address: string,
  options: ListOptions = {},
): Promise<MessageSummary[]> {
  const dir = mailboxDir(mailRoot, address);
  if (dir === undefined) return [];
  const files: FileEntry[] = [];
  for (const folder of FOLDERS) {
    for (const id of await messageFiles(dir, folder)) {
      const path = join(dir, folder, id);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile()) files.push({ id, folder, path, size: info.size, mtime: info.mtimeMs });
    }
  }
  files.sort((a, b) => b.mtime - a.mtime || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const offset = Math.max(0, Math.floor(options.offset ?? 0));
  const limit = Math.max(0, Math.floor(options.limit ?? files.length));
  const page = files.slice(offset, offset + limit);
  const out: MessageSummary[] = [];
  for (const file of page) {
    const fields = firstFields(await readHead(file.path));
    out.push({
      id: file.id,
      folder: file.folder,
      size: file.size,
      receivedAt: Math.round(file.mtime),
      from: fields.get("from") ?? "",
      to: fields.get("to") ?? "",
      subject: fields.get("subject") ?? "",
      date: fields.get("date") ?? "",
      messageId: fields.get("message-id") ?? "",
    });
  }
  return out;
}

/** The bytes of message `id` in the mailbox of `address`, or undefined. */
export async function readMessage(
  mailRoot: string,
  address: string,
  id: string,
): Promise<Uint8Array | undefined> {
  const dir = mailboxDir(mailRoot, address);
  if (dir === undefined || !isMessageId(id)) return undefined;
  for (const folder of FOLDERS) {
    const path = join(dir, folder, id);
    if (!path.startsWith(dir + sep)) return undefined;
    try {
      return new Uint8Array(await readFile(path));
    } catch {
      // Not in this folder (or moved to cur/ meanwhile): try the next one.
    }
  }
  return undefined;
}

/** Reads the start of a file, up to the header limit. */
async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, "r").catch(() => undefined);
  if (!handle) return new Uint8Array();
  try {
    const buffer = new Uint8Array(HEADER_LIMIT);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
