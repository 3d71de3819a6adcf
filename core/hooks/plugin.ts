/**
 * The plugin contract: a plain object with optional async hook methods.
 *
 * @example A complete plugin that refuses one sender domain
 * ```ts
 * const plugin: Plugin = {
 *   name: "no_spam_example",
 *   mail(_ctx, sender) {
 *     if (sender?.domain === "spam.example") return reject(550, "5.7.1", "Go away");
 *   },
 * };
 * ```
 *
 * @module
 */
import type { Endpoint } from "../runtime/conn.ts";
import type { Mailbox } from "../smtp/address.ts";
import type { Credentials, SaslMechanism } from "../smtp/auth_exchange.ts";
import type { Message } from "../smtp/message.ts";
import type { MailParams, RcptParams } from "../smtp/params.ts";
import type { Deliverer, Failure } from "../queue/scheduler.ts";
import type {
  DeliveredOutcome,
  DueMessage,
  DueRecipient,
  UndeliveredOutcome,
} from "../queue/spool.ts";
import type { Decision } from "./decision.ts";

/** What we know about the client connection; lives for the whole session. */
export interface Connection {
  /** Unique per connection, for logs. */
  readonly id: string;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** HELO/EHLO as given, once the client has sent one. */
  helo: { verb: "HELO" | "EHLO"; name: string } | undefined;
  /** TLS details once STARTTLS (or implicit TLS) succeeded. */
  tls: { version: string; cipher: string } | undefined;
  /** The authenticated user, if any. */
  user: string | undefined;
  /** What the listener that took the connection is for; absent in tests that build one by hand. */
  readonly listener?: "smtp" | "submission" | "odmr";
}

/** How the transaction was opened: MAIL, or one of RFC 821's SEND family. */
export type TransactionMode = "MAIL" | "SEND" | "SOML" | "SAML";

/** One accepted recipient. */
export interface Recipient {
  mailbox: Mailbox;
  params: RcptParams;
}

/** One mail transaction; reset by RSET, MAIL, STARTTLS and after each message. */
export interface Transaction {
  /** The queue id, also used in the Received header. */
  readonly id: string;
  readonly mode: TransactionMode;
  /** `null` for the null reverse-path (bounces). */
  readonly sender: Mailbox | null;
  readonly params: MailParams;
  readonly recipients: Recipient[];
}

/** Logging handed to plugins; lines carry the plugin and connection. */
export interface PluginLogger {
  info(message: string, fields?: Record<string, string | number | boolean>): void;
  warn(message: string, fields?: Record<string, string | number | boolean>): void;
}

/** What every hook receives. */
export interface HookContext<S = unknown> {
  readonly connection: Connection;
  /** The open transaction, if any. */
  readonly transaction: Transaction | undefined;
  /** This plugin's own state for this connection. */
  state: S;
  readonly log: PluginLogger;
}

/** A hook's return: a decision, or nothing to pass. */
export type HookResult = Decision | undefined | void;

/**
 * A plugin. Every hook is optional; hooks run in the configured order and the
 * first decision wins. Method syntax keeps plugins with their own state type
 * assignable to `Plugin`.
 */
export interface Plugin<S = unknown> {
  /** Short name, used in logs and config. */
  readonly name: string;
  /** Creates this plugin's per-connection state. */
  createState?(): S;
  connect?(ctx: HookContext<S>): HookResult | Promise<HookResult>;
  helo?(
    ctx: HookContext<S>,
    helo: { verb: "HELO" | "EHLO"; name: string },
  ): HookResult | Promise<HookResult>;
  mail?(
    ctx: HookContext<S>,
    sender: Mailbox | null,
    params: MailParams,
  ): HookResult | Promise<HookResult>;
  rcpt?(ctx: HookContext<S>, recipient: Recipient): HookResult | Promise<HookResult>;
  data?(ctx: HookContext<S>): HookResult | Promise<HookResult>;
  /** The whole message is here; headers may be edited. */
  data_post?(ctx: HookContext<S>, message: Message): HookResult | Promise<HookResult>;
  /** Store the message; `accept` means it is safely on disk. */
  queue?(ctx: HookContext<S>, message: Message): HookResult | Promise<HookResult>;
  vrfy?(ctx: HookContext<S>, argument: string): HookResult | Promise<HookResult>;
  expn?(ctx: HookContext<S>, argument: string): HookResult | Promise<HookResult>;
  turn?(ctx: HookContext<S>): HookResult | Promise<HookResult>;
  /**
   * Checks AUTH credentials (RFC 4954). `accept` logs the user in, `reject`
   * answers 535, `tempfail` 454; with no decision the local user store decides.
   */
  auth?(ctx: HookContext<S>, credentials: Credentials): HookResult | Promise<HookResult>;
  /**
   * Verbs this plugin adds (they reach it through `unknown_command`), with
   * their HELP line and, optionally, the EHLO keyword that announces them.
   */
  verbs?: Readonly<
    Record<string, {
      help: string;
      ehlo?: string;
      /** Announce `ehlo` only on connections this approves (default: all). */
      ehloWhen?(connection: Connection): boolean;
    }>
  >;
  /** SASL mechanisms this plugin adds to AUTH, by name; their credentials go to `auth`. */
  sasl?: Readonly<Record<string, SaslMechanism>>;
  unknown_command?(
    ctx: HookContext<S>,
    command: { verb: string; argument: string },
  ): HookResult | Promise<HookResult>;
  /** Informational: the transaction was reset. Decisions are ignored. */
  reset?(ctx: HookContext<S>): HookResult | Promise<HookResult>;
  /** Informational: the connection is closing. Decisions are ignored. */
  disconnect?(ctx: HookContext<S>): HookResult | Promise<HookResult>;
  /** Releases resources at server shutdown or reload. */
  close?(): void | Promise<void>;

  // Outbound hooks: they see queued messages, not connections.

  /** Picks the deliverer for a recipient: `local`, `smtp` or a gateway's name. */
  route?(ctx: OutboundContext, recipient: DueRecipient): RouteResult | Promise<RouteResult>;
  /** Informational: a recipient was delivered. */
  delivered?(ctx: OutboundContext, outcome: DeliveredOutcome): void | Promise<void>;
  /** Informational: a recipient will be retried. */
  deferred?(ctx: OutboundContext, outcome: UndeliveredOutcome): void | Promise<void>;
  /** Informational: recipients failed for good (the sender gets a report unless NOTIFY or `<>` rule it out). */
  bounce?(ctx: OutboundContext, failures: readonly Failure[]): void | Promise<void>;
  /** Deliverers this plugin provides, by route name (gateways: HTTP, LMTP, …). */
  gateways?: Readonly<Record<string, Deliverer>>;
}

/** What outbound hooks see. */
export interface OutboundContext {
  readonly message: Omit<DueMessage, "recipients" | "data"> & { size: number };
  readonly log: PluginLogger;
}

/**
 * A `route` answer: the deliverer's name and, optionally, a grouping key
 * (recipients with the same key share one delivery; default: their domain).
 */
export type RouteResult = { via: string; key?: string } | undefined | void;

/** Names of the outbound hooks. */
export type OutboundHookName = "route" | "delivered" | "deferred" | "bounce";

/** The session hook names, for the runner and for docs. */
export type HookName = Exclude<
  keyof Plugin,
  "name" | "createState" | "close" | "gateways" | "sasl" | "verbs" | OutboundHookName
>;
