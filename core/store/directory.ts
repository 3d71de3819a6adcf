/**
 * The directory: local users (with scrypt password hashes) and aliases, kept
 * in SQLite. Every read goes to the database, so a running server sees users
 * the CLI added a moment ago in another process.
 *
 * @module
 */
import type { Database } from "../runtime/sqlite.ts";
import { isValidDomain } from "../smtp/address.ts";
import { isValidMailboxAddress, normalizeAddress, splitAddress } from "./address.ts";
import { hashPassword, verifyPassword } from "./password.ts";

/** How deep aliases may nest before expansion stops. */
export const MAX_ALIAS_DEPTH = 10;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS users (
    address TEXT PRIMARY KEY, password_hash TEXT, name TEXT, created_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS aliases (
    address TEXT PRIMARY KEY, private INTEGER NOT NULL DEFAULT 0)`,
  `CREATE TABLE IF NOT EXISTS alias_members (
    alias TEXT, member TEXT, PRIMARY KEY (alias, member))`,
  // Domains a user may collect with ATRN (RFC 2645) besides their own.
  `CREATE TABLE IF NOT EXISTS user_grants (
    address TEXT, domain TEXT, PRIMARY KEY (address, domain))`,
];

/** A user as {@linkcode Directory.getUser} returns it. */
export interface User {
  readonly address: string;
  /** The display name, if one was set. */
  readonly name: string | undefined;
}

/** A user as {@linkcode Directory.listUsers} returns it. */
export interface UserListing extends User {
  /** Whether the user can authenticate (a user without one only receives). */
  readonly hasPassword: boolean;
}

/** An alias and its direct members, in the order they were added. */
export interface AliasListing {
  readonly address: string;
  readonly members: string[];
}

/**
 * A user or an alias, as the lookups by address, local part and name find
 * it (for VRFY and EXPN, RFC 5321 §3.5).
 */
export type DirectoryEntry =
  | { readonly kind: "user"; readonly address: string; readonly name: string | undefined }
  | { readonly kind: "alias"; readonly address: string; readonly private: boolean };

/** Options for {@linkcode Directory.addAlias}. */
export interface AddAliasOptions {
  /** Marks the alias private (EXPN refuses it); absent leaves the flag as it is. */
  private?: boolean;
}

/** Options for {@linkcode Directory.addUser}. */
export interface AddUserOptions {
  /** The password; without one the user can receive mail but not log in. */
  password?: string;
  /** A display name. */
  name?: string;
}

/** Where mail for one address ends up, after alias expansion. */
export interface Resolution {
  /** Local users' mailboxes. */
  mailboxes: string[];
  /** Addresses on domains that are not local, to relay to. */
  remote: string[];
  /** Local addresses that are neither user nor alias (or nest too deep). */
  unknown: string[];
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Validates and normalizes `address`, throwing a TypeError naming `what`. */
function checked(address: string, what: string): string {
  const normalized = normalizeAddress(address);
  if (!isValidMailboxAddress(normalized)) {
    throw new TypeError(`Invalid ${what} address: ${JSON.stringify(address)}`);
  }
  return normalized;
}

function checkPassword(password: string): void {
  if (password === "") throw new TypeError("The password must not be empty");
}

/** Prepares every statement once, up front. */
function prepare(db: Database) {
  return {
    getUser: db.prepare("SELECT address, name FROM users WHERE address = ?"),
    getHash: db.prepare("SELECT password_hash FROM users WHERE address = ?"),
    insertUser: db.prepare(
      "INSERT INTO users (address, password_hash, name, created_at) VALUES (?, ?, ?, ?)",
    ),
    setHash: db.prepare("UPDATE users SET password_hash = ? WHERE address = ?"),
    deleteUser: db.prepare("DELETE FROM users WHERE address = ?"),
    listUsers: db.prepare(
      "SELECT address, name, password_hash IS NOT NULL AS has_password FROM users ORDER BY address",
    ),
    isAlias: db.prepare("SELECT 1 FROM aliases WHERE address = ?"),
    getPrivate: db.prepare("SELECT private FROM aliases WHERE address = ?"),
    setPrivate: db.prepare("UPDATE aliases SET private = ? WHERE address = ?"),
    // Matches the prefix "local@" exactly: no LIKE, so `_` and `%` are plain.
    byLocalPart: db.prepare(
      `SELECT 'user' AS kind, address, name, 0 AS private FROM users
       WHERE substr(address, 1, ?) = ?
       UNION ALL SELECT 'alias' AS kind, address, NULL AS name, private FROM aliases
       WHERE substr(address, 1, ?) = ? ORDER BY address`,
    ),
    namedUsers: db.prepare(
      "SELECT address, name FROM users WHERE name IS NOT NULL ORDER BY address",
    ),
    insertAlias: db.prepare("INSERT OR IGNORE INTO aliases (address) VALUES (?)"),
    insertMember: db.prepare("INSERT OR IGNORE INTO alias_members (alias, member) VALUES (?, ?)"),
    // rowid order is insertion order, which is the order members expand in.
    members: db.prepare("SELECT member FROM alias_members WHERE alias = ? ORDER BY rowid"),
    listMembers: db.prepare(
      `SELECT a.address AS alias, m.member AS member FROM aliases a
       LEFT JOIN alias_members m ON m.alias = a.address ORDER BY a.address, m.rowid`,
    ),
    deleteMember: db.prepare("DELETE FROM alias_members WHERE alias = ? AND member = ?"),
    deleteMembers: db.prepare("DELETE FROM alias_members WHERE alias = ?"),
    deleteAlias: db.prepare("DELETE FROM aliases WHERE address = ?"),
  };
}

type Statements = ReturnType<typeof prepare>;
type Found = Record<keyof Resolution, Set<string>>;

/**
 * Users and aliases stored in one SQLite database.
 *
 * @example
 * ```ts
 * const directory = new Directory(runtime.openDatabase("data/postino.db"));
 * await directory.addUser("alice@example.com", { password: "s3cret" });
 * directory.addAlias("info@example.com", ["alice@example.com"]);
 * directory.resolve("info@example.com", (d) => d === "example.com");
 * // { mailboxes: ["alice@example.com"], remote: [], unknown: [] }
 * ```
 */
export class Directory {
  #db: Database;
  #dummyHash: Promise<string> | undefined;
  #sql: Statements;

  /**
   * Opens the directory, creating its tables if they are missing.
   *
   * @param db An open database; the directory does not close it.
   */
  constructor(db: Database) {
    this.#db = db;
    for (const sql of SCHEMA) db.exec(sql);
    this.#sql = prepare(db);
  }

  /**
   * Adds a user.
   *
   * @throws {TypeError} When the address is invalid, is already a user or an
   * alias, or the password is empty.
   */
  async addUser(address: string, options: AddUserOptions = {}): Promise<void> {
    const key = checked(address, "user");
    this.#assertFree(key);
    if (options.password !== undefined) checkPassword(options.password);
    const hash = options.password === undefined ? null : await hashPassword(options.password);
    // Checked again: another process may have added it while we hashed.
    this.#db.transaction(() => {
      this.#assertFree(key);
      this.#sql.insertUser.run(key, hash, options.name ?? null, Date.now());
    });
  }

  /**
   * Sets or replaces a user's password.
   *
   * @throws {TypeError} When there is no such user or the password is empty.
   */
  async setPassword(address: string, password: string): Promise<void> {
    const key = normalizeAddress(address);
    checkPassword(password);
    if (this.getUser(key) === undefined) throw new TypeError(`No such user: ${key}`);
    const hash = await hashPassword(password);
    if (this.#sql.setHash.run(hash, key).changes === 0) {
      throw new TypeError(`No such user: ${key}`);
    }
  }

  /**
   * Sets or clears (`undefined`) a user's display name.
   *
   * @returns Whether there is such a user.
   */
  setName(address: string, name: string | undefined): boolean {
    return this.#db.prepare("UPDATE users SET name = ? WHERE address = ?")
      .run(name ?? null, normalizeAddress(address)).changes > 0;
  }

  /**
   * Checks a user's password. Unknown users and users without a password get
   * `false`, after the same scrypt work, so timing does not reveal which.
   */
  async verifyPassword(address: string, password: string): Promise<boolean> {
    const stored = text(this.#sql.getHash.get(normalizeAddress(address))?.["password_hash"]);
    if (stored === undefined) {
      this.#dummyHash ??= hashPassword(crypto.randomUUID());
      await verifyPassword(password, await this.#dummyHash);
      return false;
    }
    return await verifyPassword(password, stored);
  }

  /** Looks a user up, or returns `undefined` when there is none. */
  getUser(address: string): User | undefined {
    const row = this.#sql.getUser.get(normalizeAddress(address));
    if (row === undefined) return undefined;
    return { address: String(row["address"]), name: text(row["name"]) };
  }

  /** All users, sorted by address. */
  listUsers(): UserListing[] {
    return this.#sql.listUsers.all().map((row) => ({
      address: String(row["address"]),
      name: text(row["name"]),
      hasPassword: Number(row["has_password"]) === 1,
    }));
  }

  /** Removes a user, and their grants; returns whether there was one. */
  removeUser(address: string): boolean {
    const key = normalizeAddress(address);
    this.#db.prepare("DELETE FROM user_grants WHERE address = ?").run(key);
    return this.#sql.deleteUser.run(key).changes > 0;
  }

  /**
   * Lets a user collect a domain's mail with ATRN (RFC 2645), besides the
   * domain of their own address.
   *
   * @throws {TypeError} When there is no such user or `domain` is no domain name.
   *
   * @example
   * ```ts
   * directory.grant("alice@example.com", "example.net");
   * directory.grantedDomains("alice@example.com"); // ["example.net"]
   * ```
   */
  grant(address: string, domain: string): void {
    const key = normalizeAddress(address);
    const name = domain.trim().toLowerCase().replace(/\.$/, "");
    if (this.getUser(key) === undefined) throw new TypeError(`No such user: ${key}`);
    if (!isValidDomain(name) || name.startsWith("[")) {
      throw new TypeError(`Invalid domain: ${JSON.stringify(domain)}`);
    }
    this.#db.prepare("INSERT OR IGNORE INTO user_grants (address, domain) VALUES (?, ?)")
      .run(key, name);
  }

  /** Takes a grant back; returns whether there was one. */
  revoke(address: string, domain: string): boolean {
    return this.#db.prepare("DELETE FROM user_grants WHERE address = ? AND domain = ?")
      .run(normalizeAddress(address), domain.trim().toLowerCase().replace(/\.$/, "")).changes > 0;
  }

  /** The domains granted to a user, sorted. */
  grantedDomains(address: string): string[] {
    return this.#db.prepare("SELECT domain FROM user_grants WHERE address = ? ORDER BY domain")
      .all(normalizeAddress(address)).map((row) => String(row["domain"]));
  }

  /** Every grant, sorted by address, then domain. */
  listGrants(): { address: string; domain: string }[] {
    return this.#db.prepare("SELECT address, domain FROM user_grants ORDER BY address, domain")
      .all().map((row) => ({ address: String(row["address"]), domain: String(row["domain"]) }));
  }

  /**
   * Adds members to an alias, creating it if needed. Members may be remote.
   *
   * @throws {TypeError} When an address is invalid, no member is given, or
   * the alias address belongs to a user.
   */
  addAlias(address: string, members: string[], options: AddAliasOptions = {}): void {
    const key = checked(address, "alias");
    const keys = members.map((member) => checked(member, "member"));
    if (keys.length === 0) throw new TypeError(`Alias ${key} needs at least one member`);
    this.#db.transaction(() => {
      if (this.getUser(key) !== undefined) {
        throw new TypeError(`${key} is a user, so it cannot also be an alias`);
      }
      this.#sql.insertAlias.run(key);
      for (const member of keys) this.#sql.insertMember.run(key, member);
      if (options.private !== undefined) this.#sql.setPrivate.run(options.private ? 1 : 0, key);
    });
  }

  /**
   * Makes an alias have exactly `members`, in that order, creating it if
   * needed; `options.private` sets its flag (absent keeps it, or public
   * for a new alias).
   *
   * @returns Whether the alias was created.
   * @throws {TypeError} When an address is invalid, no member is given, or
   * the alias address belongs to a user.
   */
  setAlias(address: string, members: string[], options: AddAliasOptions = {}): boolean {
    const key = checked(address, "alias");
    const keys = members.map((member) => checked(member, "member"));
    if (keys.length === 0) throw new TypeError(`Alias ${key} needs at least one member`);
    return this.#db.transaction(() => {
      if (this.getUser(key) !== undefined) {
        throw new TypeError(`${key} is a user, so it cannot also be an alias`);
      }
      const created = this.#sql.isAlias.get(key) === undefined;
      this.#sql.deleteMembers.run(key);
      this.#sql.insertAlias.run(key);
      for (const member of keys) this.#sql.insertMember.run(key, member);
      if (options.private !== undefined) this.#sql.setPrivate.run(options.private ? 1 : 0, key);
      return created;
    });
  }

  /**
   * Marks an alias private (EXPN refuses to show its members) or public.
   *
   * @returns Whether there is such an alias.
   */
  setAliasPrivate(address: string, isPrivate: boolean): boolean {
    return this.#sql.setPrivate.run(isPrivate ? 1 : 0, normalizeAddress(address)).changes > 0;
  }

  /**
   * The user or alias at `address`, or `undefined` when there is neither.
   *
   * @example
   * ```ts
   * directory.getEntry("alice@example.com"); // { kind: "user", address: "alice@example.com", name: "Alice" }
   * ```
   */
  getEntry(address: string): DirectoryEntry | undefined {
    const key = normalizeAddress(address);
    const user = this.getUser(key);
    if (user !== undefined) return { kind: "user", ...user };
    const row = this.#sql.getPrivate.get(key);
    if (row === undefined) return undefined;
    return { kind: "alias", address: key, private: Number(row["private"]) === 1 };
  }

  /**
   * Users and aliases whose local part is `local`, on any domain, sorted by
   * address. The caller keeps those on local domains.
   */
  findByLocalPart(local: string): DirectoryEntry[] {
    const prefix = `${normalizeAddress(local)}@`;
    // SQLite's substr() counts characters, as the spread does (not UTF-16 units).
    const length = [...prefix].length;
    return this.#sql.byLocalPart.all(length, prefix, length, prefix).map((row) =>
      row["kind"] === "user"
        ? { kind: "user", address: String(row["address"]), name: text(row["name"]) }
        : { kind: "alias", address: String(row["address"]), private: Number(row["private"]) === 1 }
    );
  }

  /**
   * Users whose display name contains `fragment`, ignoring case, sorted by
   * address. An empty or blank fragment finds no one.
   */
  findByName(fragment: string): DirectoryEntry[] {
    // Filtered here, not in SQL: SQLite's lower() only folds ASCII.
    const needle = fragment.trim().normalize("NFC").toLowerCase();
    if (needle === "") return [];
    return this.#sql.namedUsers.all().flatMap((row) => {
      const name = text(row["name"]);
      if (name === undefined || !name.normalize("NFC").toLowerCase().includes(needle)) return [];
      return [{ kind: "user" as const, address: String(row["address"]), name }];
    });
  }

  /** An alias's direct members, or `undefined` when there is no such alias. */
  getAlias(address: string): string[] | undefined {
    const key = normalizeAddress(address);
    if (this.#sql.isAlias.get(key) === undefined) return undefined;
    return this.#members(key);
  }

  /** All aliases with their direct members, sorted by address. */
  listAliases(): AliasListing[] {
    const aliases: AliasListing[] = [];
    for (const row of this.#sql.listMembers.all()) {
      const alias = String(row["alias"]);
      const member = text(row["member"]);
      const last = aliases.at(-1);
      const entry = last?.address === alias ? last : { address: alias, members: [] };
      if (entry !== last) aliases.push(entry);
      if (member !== undefined) entry.members.push(member);
    }
    return aliases;
  }

  /**
   * Removes some members of an alias, or the whole alias when `members` is
   * absent or empty. An alias left without members is removed too.
   *
   * @returns Whether anything was removed.
   */
  removeAlias(address: string, members?: string[]): boolean {
    const key = normalizeAddress(address);
    return this.#db.transaction(() => {
      if (members === undefined || members.length === 0) {
        this.#sql.deleteMembers.run(key);
        return this.#sql.deleteAlias.run(key).changes > 0;
      }
      let removed = 0;
      for (const member of members) {
        removed += this.#sql.deleteMember.run(key, normalizeAddress(member)).changes;
      }
      if (this.#members(key).length === 0) this.#sql.deleteAlias.run(key);
      return removed > 0;
    });
  }

  /**
   * Works out where mail for `address` goes.
   *
   * Aliases expand recursively, at most {@linkcode MAX_ALIAS_DEPTH} deep,
   * each alias once (so loops end), with duplicates dropped and order kept.
   * `postmaster@<local domain>` always resolves (RFC 5321 §4.5.1): to the
   * user or alias of that name, or else to that mailbox itself.
   *
   * @param address The recipient.
   * @param isLocalDomain Whether Postino is the final destination for a domain.
   * @returns `undefined` when `address` is invalid, not on a local domain, or
   * neither a user nor an alias.
   */
  resolve(address: string, isLocalDomain: (domain: string) => boolean): Resolution | undefined {
    const key = normalizeAddress(address);
    if (!isValidMailboxAddress(key) || !isLocalDomain(splitAddress(key).domain)) return undefined;
    if (this.#sql.isAlias.get(key) === undefined && !this.#isMailbox(key)) return undefined;
    const found = {
      mailboxes: new Set<string>(),
      remote: new Set<string>(),
      unknown: new Set<string>(),
    };
    this.#expand(key, 0, new Set(), found, isLocalDomain);
    return {
      mailboxes: [...found.mailboxes],
      remote: [...found.remote],
      unknown: [...found.unknown],
    };
  }

  #expand(
    address: string,
    depth: number,
    seen: Set<string>,
    found: Found,
    isLocalDomain: (domain: string) => boolean,
  ): void {
    if (!isLocalDomain(splitAddress(address).domain)) {
      found.remote.add(address);
    } else if (this.#sql.isAlias.get(address) !== undefined) {
      if (seen.has(address)) return;
      // Too deep: report rather than drop, so the caller can log the alias.
      if (depth >= MAX_ALIAS_DEPTH) return void found.unknown.add(address);
      seen.add(address);
      for (const member of this.#members(address)) {
        this.#expand(member, depth + 1, seen, found, isLocalDomain);
      }
    } else if (this.#isMailbox(address)) {
      found.mailboxes.add(address);
    } else {
      found.unknown.add(address);
    }
  }

  /** A user, or a postmaster with no user or alias of its own. */
  #isMailbox(address: string): boolean {
    if (this.#sql.getUser.get(address) !== undefined) return true;
    return splitAddress(address).local === "postmaster";
  }

  #members(alias: string): string[] {
    return this.#sql.members.all(alias).map((row) => String(row["member"]));
  }

  #assertFree(key: string): void {
    if (this.#sql.getUser.get(key) !== undefined) {
      throw new TypeError(`User ${key} already exists`);
    }
    if (this.#sql.isAlias.get(key) !== undefined) {
      throw new TypeError(`${key} is an alias, so it cannot also be a user`);
    }
  }
}
