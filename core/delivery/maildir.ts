/**
 * Maildir delivery (`<root>/<domain>/<local>/{tmp,new,cur}`, Dovecot's
 * `maildir:%d/%n`). Write to tmp, fsync, rename into new, fsync the
 * directory: only then is the copy durable. The file name comes from the
 * queue id and the recipient, so delivering again never makes a second copy.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, fsync, openSync, renameSync, writeSync } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";

/** Where one copy went. */
export interface MaildirResult {
  path: string;
}

/** Makes a mailbox-path segment safe: no separators, no dot files. */
export function safeSegment(text: string): string {
  // Control characters, separators and `%` itself are escaped.
  // deno-lint-ignore no-control-regex
  const unsafe = /[%/\\\x00-\x1f\x7f]/g;
  const encoded = text.replace(
    unsafe,
    (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return encoded.startsWith(".") ? `%2e${encoded.slice(1)}` : encoded;
}

/** The Maildir directory of `address` under `root`. */
export function maildirPath(root: string, address: string): string {
  const at = address.lastIndexOf("@");
  return join(root, safeSegment(address.slice(at + 1)), safeSegment(address.slice(0, at)));
}

const fsyncFd = promisify(fsync);

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/**
 * Coalesces directory fsyncs: renames that finished before an fsync started
 * are covered by it, so concurrent deliveries into one folder share one
 * fsync instead of queueing one each (group commit for directories).
 */
class DirSync {
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** Resolves once an fsync that started after this call has finished. */
  sync(): Promise<void> {
    if (this.#next) return this.#next;
    if (!this.#running) return this.#start();
    this.#next = this.#running.catch(() => {}).then(() => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<void> {
    const running = fsyncPath(this.#path).finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }
}

/** Writes Maildir copies, remembering which folders already exist. */
export class MaildirWriter {
  #root: string;
  #hostname: string;
  #ready = new Map<string, DirSync>();

  /** @param root the `mail` folder, e.g. `<data-dir>/mail` */
  constructor(root: string, hostname: string) {
    this.#root = root;
    this.#hostname = hostname.replace(/[/:]/g, "_");
  }

  async #ensure(dir: string): Promise<DirSync> {
    const known = this.#ready.get(dir);
    if (known) return known;
    const fresh = !await exists(join(dir, "new"));
    for (const sub of ["tmp", "new", "cur"]) await mkdir(join(dir, sub), { recursive: true });
    if (fresh) {
      // Make the new folders themselves durable before anything goes in.
      await fsyncPath(dir);
      await fsyncPath(join(dir, ".."));
      await fsyncPath(join(dir, "..", ".."));
    }
    const sync = new DirSync(join(dir, "new"));
    this.#ready.set(dir, sync);
    return sync;
  }

  /**
   * Delivers `bytes` to the mailbox of `address`, durably. Delivering the
   * same queue id to the same address again replaces the copy in `new/`
   * (same name, same bytes) instead of adding a second one.
   */
  async deliver(address: string, queueId: string, bytes: Uint8Array): Promise<MaildirResult> {
    const dir = maildirPath(this.#root, address);
    const newDir = await this.#ensure(dir);
    const tag = createHash("sha256").update(address).digest("hex").slice(0, 12);
    const name = `${queueId}.${tag}.${this.#hostname}`;
    const target = join(dir, "new", name);
    const temp = join(dir, "tmp", name);
    // Open, write, close and rename are quick calls made in place; only the
    // fsyncs wait on the disk and go to the thread pool. On Bun, a fully
    // async write was the bottleneck of local delivery: 870 vs 2,400 copies/s
    // with 20 deliveries at once (Deno: the same either way).
    const fd = openSync(temp, "w", 0o600);
    try {
      for (let offset = 0; offset < bytes.byteLength;) {
        offset += writeSync(fd, bytes, offset, bytes.byteLength - offset);
      }
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    await newDir.sync();
    return { path: target };
  }
}
