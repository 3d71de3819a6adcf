/**
 * The SQLite spool: messages, per-recipient state and the attempt history
 * in `<data-dir>/postino.db` (WAL, `synchronous=FULL`).
 *
 * Group commit: writes from concurrent sessions and delivery workers queue
 * up and go to disk in one transaction on the next turn of the event loop,
 * so many messages share one fsync. Durability is never weakened: a
 * `put()` resolves only after the COMMIT that contains it.
 *
 * @module
 */
import type { Database, Row } from "../runtime/sqlite.ts";
import type {
  DomainLease,
  DueMessage,
  NewMessage,
  Outcome,
  Presence,
  QueueListing,
  RecipientStatus,
  Spool,
  SpoolParams,
} from "./spool.ts";

/** One stored message's content, for `queue show` and the admin API. */
export interface StoredMessage {
  id: string;
  sender: string;
  params: SpoolParams;
  data: Uint8Array;
  receivedAt: number;
  isBounce: boolean;
  held: boolean;
}

/** One line of a message's delivery history (`spool_attempts`). */
export interface AttemptRecord {
  address: string;
  /** Milliseconds since the epoch. */
  at: number;
  status: "delivered" | "deferred" | "failed";
  /** The remote host for a delivery, or the reply for a failure. */
  detail: string | undefined;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS spool_messages (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    params TEXT NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    is_bounce INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    warned INTEGER NOT NULL DEFAULT 0)`,
  `CREATE TABLE IF NOT EXISTS spool_recipients (
    message_id TEXT NOT NULL REFERENCES spool_messages(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    original TEXT NOT NULL,
    notify TEXT,
    orcpt TEXT,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    PRIMARY KEY (message_id, address))`,
  `CREATE INDEX IF NOT EXISTS spool_due ON spool_recipients (state, next_attempt)`,
  `CREATE TABLE IF NOT EXISTS spool_attempts (
    message_id TEXT NOT NULL,
    address TEXT NOT NULL,
    at INTEGER NOT NULL,
    status TEXT NOT NULL,
    detail TEXT)`,
  // ATRN collectors (RFC 2645): one holder per domain until `lease_until`.
  `CREATE TABLE IF NOT EXISTS spool_domain_leases (
    domain TEXT PRIMARY KEY,
    lease_until INTEGER NOT NULL)`,
];

type Op = () => void;

/** The embedded {@linkcode Spool}. */
export class SqliteSpool implements Spool {
  #db: Database;
  #pending: { op: Op; durable: boolean; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;
  #stmt;

  constructor(db: Database) {
    this.#db = db;
    for (const sql of SCHEMA) db.exec(sql);
    this.#stmt = {
      insertMessage: db.prepare(
        `INSERT INTO spool_messages (id, sender, params, data, size, received_at, is_bounce)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertRecipient: db.prepare(
        `INSERT OR IGNORE INTO spool_recipients
         (message_id, address, original, notify, orcpt, next_attempt, state, lease_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      dueIds: db.prepare(
        `SELECT DISTINCT r.message_id AS id FROM spool_recipients r
         JOIN spool_messages m ON m.id = r.message_id
         WHERE r.state = 'queued' AND r.next_attempt <= ? AND m.held = 0
         ORDER BY r.next_attempt LIMIT ?`,
      ),
      message: db.prepare(`SELECT * FROM spool_messages WHERE id = ?`),
      dueRecipients: db.prepare(
        `SELECT * FROM spool_recipients WHERE message_id = ? AND state = 'queued' AND next_attempt <= ?`,
      ),
      leaseRecipients: db.prepare(
        `UPDATE spool_recipients SET state = 'leased', lease_until = ?
         WHERE message_id = ? AND state = 'queued' AND next_attempt <= ?`,
      ),
      setState: db.prepare(
        `UPDATE spool_recipients SET state = ?, attempts = attempts + 1, next_attempt = ?,
         lease_until = NULL, last_error = ? WHERE message_id = ? AND address = ?`,
      ),
      attempts: db.prepare(
        `SELECT attempts FROM spool_recipients WHERE message_id = ? AND address = ?`,
      ),
      logAttempt: db.prepare(
        `INSERT INTO spool_attempts (message_id, address, at, status, detail) VALUES (?, ?, ?, ?, ?)`,
      ),
      openCount: db.prepare(
        `SELECT COUNT(*) AS n FROM spool_recipients WHERE message_id = ? AND state IN ('queued', 'leased')`,
      ),
      deleteMessage: db.prepare(`DELETE FROM spool_messages WHERE id = ?`),
      deleteRecipients: db.prepare(`DELETE FROM spool_recipients WHERE message_id = ?`),
      deleteAttempts: db.prepare(`DELETE FROM spool_attempts WHERE message_id = ?`),
      nextDue: db.prepare(
        `SELECT MIN(r.next_attempt) AS at FROM spool_recipients r
         JOIN spool_messages m ON m.id = r.message_id WHERE r.state = 'queued' AND m.held = 0`,
      ),
      recover: db.prepare(
        `UPDATE spool_recipients SET state = 'queued', lease_until = NULL WHERE state = 'leased'`,
      ),
      count: db.prepare(`SELECT COUNT(*) AS n FROM spool_messages`),
      held: db.prepare(`SELECT held FROM spool_messages WHERE id = ?`),
      unlease: db.prepare(
        `UPDATE spool_recipients SET state = 'queued', lease_until = NULL
         WHERE message_id = ? AND state = 'leased'`,
      ),
      depth: db.prepare(
        `SELECT COUNT(*) AS n, MIN(received_at) AS oldest,
         COALESCE(SUM(held), 0) AS held FROM spool_messages`,
      ),
      expireDomainLeases: db.prepare(`DELETE FROM spool_domain_leases WHERE lease_until <= ?`),
      takeDomain: db.prepare(
        `INSERT OR IGNORE INTO spool_domain_leases (domain, lease_until) VALUES (?, ?)`,
      ),
      releaseDomain: db.prepare(`DELETE FROM spool_domain_leases WHERE domain = ?`),
      // Every queued recipient at the domain, due or not (deferred mail is collectable too).
      domainRecipients: db.prepare(
        `SELECT r.* FROM spool_recipients r JOIN spool_messages m ON m.id = r.message_id
         WHERE r.state = 'queued' AND m.held = 0 AND r.address LIKE ? ESCAPE '\\'
         ORDER BY m.received_at, m.id`,
      ),
      leaseRecipient: db.prepare(
        `UPDATE spool_recipients SET state = 'leased', lease_until = ?
         WHERE message_id = ? AND address = ? AND state = 'queued'`,
      ),
    };
  }

  /** Queues `op` for the next group commit; resolves after that COMMIT. */
  #commit(op: Op, durable = true): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ op, durable, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // One macrotask later: everything other sessions queued meanwhile joins the batch.
      setTimeout(() => this.#flushBatch(), 0);
    });
  }

  #flushBatch(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    const failed = new Set<number>();
    try {
      this.#withSync(batch.some((item) => item.durable), () =>
        this.#db.transaction(() => {
          batch.forEach((item, i) => {
            // A SAVEPOINT per op: one bad op (a duplicate id) must not sink the batch.
            this.#db.exec("SAVEPOINT op");
            try {
              item.op();
              this.#db.exec("RELEASE op");
            } catch (error) {
              this.#db.exec("ROLLBACK TO op");
              this.#db.exec("RELEASE op");
              failed.add(i);
              item.reject(error);
            }
          });
        }));
    } catch (error) {
      // The COMMIT itself failed (disk full, I/O error): nothing in the batch is durable.
      batch.forEach((item, i) => failed.has(i) || item.reject(error));
      return;
    }
    batch.forEach((item, i) => failed.has(i) || item.resolve());
  }

  /**
   * Runs `fn` with fsync at COMMIT (`durable`) or without. Only new messages
   * need it: a 250 promises they are on disk. Leases and outcomes may be lost
   * with power (never with a crash of ours: WAL still has them); then a
   * message is delivered again, and Maildir names make that harmless. A
   * later durable COMMIT fsyncs the WAL, and with it everything before.
   */
  #withSync<T>(durable: boolean, fn: () => T): T {
    if (durable) return fn();
    this.#db.exec("PRAGMA synchronous = NORMAL");
    try {
      return fn();
    } finally {
      this.#db.exec("PRAGMA synchronous = FULL");
    }
  }

  put(message: NewMessage, options: { leaseMs?: number } = {}): Promise<void> {
    if (message.recipients.length === 0) {
      return Promise.reject(new RangeError("a message needs recipients"));
    }
    return this.#commit(() => {
      const s = this.#stmt;
      s.insertMessage.run(
        message.id,
        message.sender,
        JSON.stringify(message.params),
        message.data,
        message.data.byteLength,
        message.receivedAt,
        message.isBounce ? 1 : 0,
      );
      for (const r of message.recipients) {
        s.insertRecipient.run(
          message.id,
          r.address,
          r.original,
          r.notify ? r.notify.join(",") : null,
          r.orcpt ? JSON.stringify(r.orcpt) : null,
          message.receivedAt,
          options.leaseMs === undefined ? "queued" : "leased",
          options.leaseMs === undefined ? null : message.receivedAt + options.leaseMs,
        );
      }
    });
  }

  lease(now: number, limit: number, leaseMs: number): DueMessage[] {
    const s = this.#stmt;
    return this.#withSync(false, () =>
      this.#db.transaction(() => {
        const due: DueMessage[] = [];
        for (const { id } of s.dueIds.all(now, limit)) {
          const row = s.message.get(id as string);
          if (!row) continue;
          const recipients = s.dueRecipients.all(id as string, now).map((r) => ({
            address: r.address as string,
            original: r.original as string,
            ...(r.notify ? { notify: String(r.notify).split(",") } : {}),
            ...(r.orcpt ? { orcpt: JSON.parse(String(r.orcpt)) } : {}),
            attempts: Number(r.attempts),
          }));
          s.leaseRecipients.run(now + leaseMs, id as string, now);
          due.push({ ...messageFromRow(row), recipients });
        }
        return due;
      }));
  }

  leaseDomains(domains: readonly string[], now: number, leaseMs: number): DomainLease {
    const s = this.#stmt;
    return this.#withSync(false, () =>
      this.#db.transaction(() => {
        s.expireDomainLeases.run(now);
        const got: string[] = [];
        const busy: string[] = [];
        for (const domain of new Set(domains.map((d) => d.toLowerCase()))) {
          if (s.takeDomain.run(domain, now + leaseMs).changes > 0) got.push(domain);
          else busy.push(domain);
        }
        const byId = new Map<string, DueMessage>();
        for (const domain of got) {
          for (const r of s.domainRecipients.all(`%@${likeEscape(domain)}`)) {
            const id = r.message_id as string;
            let message = byId.get(id);
            if (!message) {
              const row = s.message.get(id);
              if (!row) continue;
              message = { ...messageFromRow(row), recipients: [] };
              byId.set(id, message);
            }
            s.leaseRecipient.run(now + leaseMs, id, r.address as string);
            message.recipients.push(recipientFromRow(r));
          }
        }
        return { domains: got, busy, messages: [...byId.values()] };
      }));
  }

  releaseDomains(domains: readonly string[]): void {
    this.#withSync(false, () =>
      this.#db.transaction(() => {
        for (const domain of domains) this.#stmt.releaseDomain.run(domain.toLowerCase());
      }));
  }

  record(
    id: string,
    outcomes: Outcome[],
    now: number,
    retryAt: (attempts: number) => number,
  ): Promise<void> {
    return this.#commit(() => {
      const s = this.#stmt;
      for (const outcome of outcomes) {
        const attempts = Number(s.attempts.get(id, outcome.address)?.attempts ?? 0) + 1;
        const detail = outcome.status === "delivered"
          ? outcome.host ?? null
          : `${outcome.code} ${outcome.enhanced} ${outcome.text}${
            outcome.host ? ` (${outcome.host})` : ""
          }`;
        const state = outcome.status === "deferred" ? "queued" : outcome.status;
        const next = outcome.status === "deferred" ? retryAt(attempts) : now;
        s.setState.run(
          state,
          next,
          outcome.status === "delivered" ? null : detail,
          id,
          outcome.address,
        );
        s.logAttempt.run(id, outcome.address, now, outcome.status, detail);
      }
      if (Number(s.openCount.get(id)?.n) === 0) this.#delete(id);
    }, false);
  }

  #delete(id: string): void {
    this.#stmt.deleteRecipients.run(id);
    this.#stmt.deleteAttempts.run(id);
    this.#stmt.deleteMessage.run(id);
  }

  markWarned(id: string): Promise<void> {
    return this.#commit(() => {
      this.#db.prepare(`UPDATE spool_messages SET warned = 1 WHERE id = ?`).run(id);
    }, false);
  }

  recover(): number {
    // A collector of the crashed run is gone too.
    this.#db.exec(`DELETE FROM spool_domain_leases`);
    return this.#stmt.recover.run().changes;
  }

  nextDue(): number | undefined {
    const at = this.#stmt.nextDue.get()?.at;
    return at === null || at === undefined ? undefined : Number(at);
  }

  list(): QueueListing[] {
    const messages = this.#db.prepare(
      `SELECT id, sender, size, received_at, held FROM spool_messages ORDER BY received_at, id`,
    ).all();
    const recipients = this.#db.prepare(
      `SELECT message_id, address, state, attempts, next_attempt, last_error FROM spool_recipients
       ORDER BY rowid`,
    ).all();
    // Grouped once: a filter per message would be quadratic in a big queue.
    const byMessage = new Map<string, RecipientStatus[]>();
    for (const r of recipients) {
      const id = r.message_id as string;
      let list = byMessage.get(id);
      if (!list) byMessage.set(id, list = []);
      list.push(recipientStatus(r));
    }
    return messages.map((m) => listingFromRow(m, byMessage.get(m.id as string) ?? []));
  }

  /** One message as {@linkcode list} shows it, or undefined. */
  listing(id: string): QueueListing | undefined {
    const m = this.#db.prepare(
      `SELECT id, sender, size, received_at, held FROM spool_messages WHERE id = ?`,
    ).get(id);
    if (m === undefined) return undefined;
    const recipients = this.#db.prepare(
      `SELECT address, state, attempts, next_attempt, last_error FROM spool_recipients
       WHERE message_id = ? ORDER BY rowid`,
    ).all(id);
    return listingFromRow(m, recipients.map(recipientStatus));
  }

  /** One message's content and MAIL parameters, or undefined. */
  stored(id: string): StoredMessage | undefined {
    const row = this.#stmt.message.get(id);
    if (row === undefined) return undefined;
    const { warned: _, ...message } = messageFromRow(row);
    return { ...message, held: Number(row.held) === 1 };
  }

  /** The delivery history of one message, oldest first (kept while it is queued). */
  attempts(id: string): AttemptRecord[] {
    return this.#db.prepare(
      `SELECT address, at, status, detail FROM spool_attempts WHERE message_id = ? ORDER BY at, rowid`,
    ).all(id).map((r) => ({
      address: r.address as string,
      at: Number(r.at),
      status: r.status as AttemptRecord["status"],
      detail: (r.detail as string | null) ?? undefined,
    }));
  }

  flush(selector: { id?: string; domain?: string } = {}): number {
    if (selector.id !== undefined) {
      return this.#db.prepare(
        `UPDATE spool_recipients SET next_attempt = 0 WHERE state = 'queued' AND message_id = ?`,
      ).run(selector.id).changes;
    }
    if (selector.domain !== undefined) {
      return this.#db.prepare(
        `UPDATE spool_recipients SET next_attempt = 0 WHERE state = 'queued' AND address LIKE ? ESCAPE '\\'`,
      ).run(`%@${selector.domain.toLowerCase().replace(/[%_\\]/g, "\\$&")}`).changes;
    }
    return this.#db.prepare(`UPDATE spool_recipients SET next_attempt = 0 WHERE state = 'queued'`)
      .run().changes;
  }

  hold(id: string, held: boolean): boolean {
    return this.#db.prepare(`UPDATE spool_messages SET held = ? WHERE id = ?`).run(held ? 1 : 0, id)
      .changes > 0;
  }

  remove(id: string): boolean {
    return this.#db.transaction(() => {
      const existed = this.#stmt.message.get(id) !== undefined;
      this.#delete(id);
      return existed;
    });
  }

  presence(id: string): Presence {
    const row = this.#stmt.held.get(id);
    return row === undefined ? "gone" : Number(row.held) === 1 ? "held" : "ready";
  }

  unlease(id: string): void {
    this.#stmt.unlease.run(id);
  }

  count(): number {
    return Number(this.#stmt.count.get()?.n ?? 0);
  }

  /** Queue depth for health and metrics: messages, held ones, the oldest's arrival. */
  depth(): { messages: number; held: number; oldestReceivedAt: number | undefined } {
    const row = this.#stmt.depth.get();
    const oldest = row?.oldest;
    return {
      messages: Number(row?.n ?? 0),
      held: Number(row?.held ?? 0),
      oldestReceivedAt: oldest === null || oldest === undefined ? undefined : Number(oldest),
    };
  }
}

function recipientStatus(r: Row): RecipientStatus {
  return {
    address: r.address as string,
    state: r.state as RecipientStatus["state"],
    attempts: Number(r.attempts),
    nextAttempt: Number(r.next_attempt),
    lastError: (r.last_error as string | null) ?? undefined,
  };
}

function listingFromRow(m: Row, recipients: RecipientStatus[]): QueueListing {
  return {
    id: m.id as string,
    sender: m.sender as string,
    size: Number(m.size),
    receivedAt: Number(m.received_at),
    held: Number(m.held) === 1,
    recipients,
  };
}

function likeEscape(text: string): string {
  return text.replace(/[%_\\]/g, "\\$&");
}

function recipientFromRow(r: Row): DueMessage["recipients"][number] {
  return {
    address: r.address as string,
    original: r.original as string,
    ...(r.notify ? { notify: String(r.notify).split(",") } : {}),
    ...(r.orcpt ? { orcpt: JSON.parse(String(r.orcpt)) } : {}),
    attempts: Number(r.attempts),
  };
}

function messageFromRow(row: Row): Omit<DueMessage, "recipients"> {
  return {
    id: row.id as string,
    sender: row.sender as string,
    params: JSON.parse(String(row.params)) as SpoolParams,
    data: row.data as Uint8Array,
    receivedAt: Number(row.received_at),
    isBounce: Number(row.is_bounce) === 1,
    warned: Number(row.warned) === 1,
  };
}
