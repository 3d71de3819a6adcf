/**
 * One SMTP session (RFC 5321) as an explicit state machine. Each command runs
 * check → hook → proceed: sequence and syntax errors are answered here,
 * before any plugin sees the command; policy lives in plugins.
 *
 * @module
 */
import { type Decision, reject } from "../hooks/decision.ts";
import type { Connection, Transaction, TransactionMode } from "../hooks/plugin.ts";
import type { HookArgs, HookRunner, HookScope } from "../hooks/runner.ts";
import type { HookName } from "../hooks/plugin.ts";
import { type Logger, redactAuth } from "../log.ts";
import { withDeadline } from "../deadline.ts";
import type { Conn } from "../runtime/conn.ts";
import { offeredMechanisms, runAuth } from "./auth_command.ts";
import { checkMail, checkRcpt, type EnvelopeRules } from "./envelope.ts";
import { ehloKeywords, helpReply, pluginVerbs } from "./help.ts";
import { improperPipelining, pipelinedEarly, talkedEarly } from "./early_talk.ts";
import { ClientGone, IdleTimeout, Input } from "./input.ts";
import { Chunks, runBdat, runData } from "./message_intake.ts";
import { Output } from "./output.ts";
import { OWNED_VERBS, type OwnedVerb } from "./owned_verbs.ts";
import { type Reply, reply, SmtpError } from "./reply.ts";
import type { SessionOptions, SessionSettings } from "./session_settings.ts";
import type { State } from "./session_state.ts";
import { offersStartTls, runStartTls } from "./starttls.ts";

export type { AuthBackend } from "./auth_command.ts";
export type { SessionOptions, SessionSettings } from "./session_settings.ts";
export type { State } from "./session_state.ts";

/** RFC 5321 §4.5.3.1.4: 512 octets for a command line, CRLF included. */
const MAX_COMMAND_LINE = 512;
/** RFC 4954 §4: a SASL response line may be up to 12288 octets. */
const MAX_AUTH_LINE = 12288;

type Handler = (session: Session, argument: string, verb: string) => Promise<void>;
interface Verb {
  states: readonly State[];
  handler: Handler;
  /** Reply when the verb comes in a state not listed. */
  outOfSequence?: string;
}

const ANY: readonly State[] = ["ready", "greeted", "mail", "rcpt"];
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The verb table (STYLE.md rule 1): verb → allowed states → handler. */
const VERBS: Readonly<Record<string, Verb>> = {
  HELO: { states: ANY, handler: (s, a, v) => s.helo(v as "HELO", a) },
  EHLO: { states: ANY, handler: (s, a, v) => s.helo(v as "EHLO", a) },
  MAIL: { states: ["greeted"], handler: (s, a) => s.mail("MAIL", a), outOfSequence: "" },
  SEND: { states: ["greeted"], handler: (s, a) => s.mail("SEND", a), outOfSequence: "" },
  SOML: { states: ["greeted"], handler: (s, a) => s.mail("SOML", a), outOfSequence: "" },
  SAML: { states: ["greeted"], handler: (s, a) => s.mail("SAML", a), outOfSequence: "" },
  RCPT: {
    states: ["mail", "rcpt"],
    handler: (s, a) => s.rcpt(a),
    outOfSequence: "Need MAIL command",
  },
  DATA: { states: ["rcpt"], handler: (s, a) => s.message("DATA", a), outOfSequence: "" },
  // BDAT is reachable from any state: its chunk must be read even when refused.
  BDAT: { states: [...ANY, "bdat"], handler: (s, a) => s.message("BDAT", a) },
  RSET: { states: [...ANY, "bdat"], handler: (s, a) => s.rset(a) },
  NOOP: { states: [...ANY, "bdat"], handler: (s) => s.send(reply(250, "2.0.0", "Ok")) },
  QUIT: { states: [...ANY, "bdat"], handler: (s) => s.quit() },
  HELP: { states: [...ANY, "bdat"], handler: (s, a) => s.help(a) },
  VRFY: { states: ANY, handler: (s, a) => s.owned(OWNED_VERBS.VRFY, a) },
  EXPN: { states: ANY, handler: (s, a) => s.owned(OWNED_VERBS.EXPN, a) },
  TURN: { states: ["greeted"], handler: (s, a) => s.owned(OWNED_VERBS.TURN, a), outOfSequence: "" },
  STARTTLS: { states: ["ready", "greeted"], handler: (s, a) => s.starttls(a) },
  AUTH: { states: ["greeted"], handler: (s, a) => s.auth(a), outOfSequence: "" },
};

/** One client connection from greeting to close. */
export class Session {
  readonly connection: Connection;
  #conn: Conn;
  #runner: HookRunner;
  #settings: SessionSettings;
  #log: Logger;
  #newQueueId: () => string;
  #input: Input;
  #states: Map<never, unknown>;
  #state: State = "ready";
  #transaction: Transaction | undefined;
  #chunks = new Chunks();
  #out: Output;
  #errors = 0;
  #esmtp = false;
  #waiting = false;
  #stopping = false;

  constructor(options: SessionOptions) {
    this.#conn = options.conn;
    this.connection = options.connection;
    this.#runner = options.runner;
    this.#settings = options.settings;
    this.#log = options.log;
    this.#newQueueId = options.newQueueId;
    this.#states = options.runner.createStates() as Map<never, unknown>;
    const { writeTimeoutMs, commandTimeoutMs } = options.settings;
    this.#out = new Output(options.conn, options.log, options.connection.id, { writeTimeoutMs });
    this.#input = new Input({
      read: () => this.#conn.read(),
      beforeWait: () => this.#out.flush(),
      idleTimeoutMs: options.settings.idleTimeoutMs,
      commandTimeoutMs,
      ...(options.initial ? { initial: options.initial } : {}),
    });
  }

  /** The current state, for tests and traces. */
  get state(): State {
    return this.#state;
  }

  /** Runs the session to the end. Never throws. */
  async run(): Promise<void> {
    try {
      if (await this.#greet()) await this.#loop();
    } catch (error) {
      if (error instanceof IdleTimeout) {
        this.send(reply(421, "4.4.2", `${this.#settings.hostname} Error: timeout exceeded`));
      } else if (!(error instanceof ClientGone)) {
        this.#log.event("session_error", { conn: this.connection.id, error: String(error) });
        this.send(reply(421, "4.3.0", "Local error, closing connection"));
      }
    } finally {
      await this.#close();
    }
  }

  /**
   * Asks the session to end (server shutdown). An idle session gets 421 at
   * once; a busy one finishes its command first, and one between BDAT
   * chunks its message (RFC 3030: the chunks are one transfer, like DATA).
   */
  stop(): void {
    this.#stopping = true;
    if (this.#waiting && this.#state !== "bdat") {
      this.send(reply(421, "4.3.2", `${this.#settings.hostname} Service shutting down`));
      // A client that is gone or never reads (write timeout) cannot get the 421.
      this.#out.flush().catch(() => {}).finally(() => this.#conn.close());
    }
  }

  /**
   * Ends the session now, whatever it is doing (the shutdown grace ran
   * out): 421, written within `writeMs`, then close. RFC 5321 §3.8: a
   * server that shuts down says 421 before it closes. A message still
   * coming in is dropped: it never got its 250, so the client sends it again.
   */
  async abort(writeMs: number): Promise<void> {
    this.send(reply(421, "4.3.2", `${this.#settings.hostname} Service shutting down`));
    await withDeadline(this.#out.flush(), writeMs, () => new Error("421 not written"))
      .catch(() => {});
    this.#conn.close();
  }

  /** Queues a reply; replies go out together when we next wait for input. */
  send(r: Reply): Promise<void> {
    this.#out.push(r);
    return Promise.resolve();
  }

  #to(next: State): void {
    if (this.#log.tracing && next !== this.#state) {
      this.#log.trace(this.connection.id, ">", `[state ${this.#state} -> ${next}]`);
    }
    this.#state = next;
  }

  #scope(): HookScope {
    return { connection: this.connection, transaction: this.#transaction, states: this.#states };
  }

  #hook<K extends HookName>(hook: K, ...args: HookArgs<K>): Promise<Decision | undefined> {
    return this.#runner.run(hook, this.#scope(), ...args);
  }

  /** Sends a refusing decision; returns true if the session must end. */
  #refuse(decision: Decision): boolean {
    if (decision.reply) this.send(decision.reply);
    if (decision.kind === "reject" || decision.kind === "tempfail") this.#countError();
    if (decision.kind === "disconnect") {
      this.#to("closed");
      return true;
    }
    return false;
  }

  #countError(): void {
    this.#errors++;
    if (this.#errors >= this.#settings.maxErrors && this.#state !== "closed") {
      this.send(reply(421, "4.7.0", `${this.#settings.hostname} Error: too many errors`));
      this.#log.event("too_many_errors", { conn: this.connection.id, errors: this.#errors });
      this.#to("closed");
    }
  }

  #error(code: number, enhanced: string, text: string): void {
    this.send(reply(code, enhanced, text));
    this.#countError();
  }

  async #greet(): Promise<boolean> {
    const decision = await this.#hook("connect");
    if (decision && decision.kind !== "accept") {
      this.send(decision.reply);
      this.#log.event("reject", {
        conn: this.connection.id,
        stage: "connect",
        code: decision.reply.code,
      });
      return false;
    }
    // RFC 5321 §4.3.1: a client must wait for the greeting (postscreen's pregreet test).
    const pause = this.#settings.greetPauseMs ?? 0;
    const heard = pause > 0 ? await this.#input.listen(pause) : "quiet";
    if (heard === "talked") this.#protocolError(talkedEarly(this.#settings.hostname), "greeting");
    if (heard !== "quiet") return false;
    this.send(reply(220, "", `${this.#settings.hostname} ESMTP Postino`));
    return true;
  }

  /** Answers an early talker with 554 5.5.0; the caller ends the session. */
  #protocolError(answer: Reply, stage: string): void {
    this.send(answer);
    this.#log.event("reject", { conn: this.connection.id, stage, code: 554 });
  }

  async #loop(): Promise<void> {
    while (this.#state !== "closed") {
      if (this.#stopping && this.#state !== "bdat") {
        this.send(reply(421, "4.3.2", `${this.#settings.hostname} Service shutting down`));
        return;
      }
      if (this.#out.full) await this.#out.flush(); // backpressure on a client that does not read
      this.#waiting = this.#input.buffered === 0;
      const result = await this.#input.readLine(MAX_COMMAND_LINE);
      this.#waiting = false;
      if (result === null) return;
      if (!result.tooLong && improperPipelining(result.line, this.#input.buffered, this.#esmtp)) {
        return this.#protocolError(pipelinedEarly(this.#settings.hostname), "pipelining");
      }
      if (result.tooLong) {
        this.#error(500, "5.5.2", "Line too long");
        continue;
      }
      let line: string;
      try {
        line = decoder.decode(result.line);
      } catch {
        this.#error(500, "5.5.2", "Invalid UTF-8 in command");
        continue;
      }
      // deno-lint-ignore no-control-regex
      if (/[\x00\r\n]/.test(line)) {
        this.#error(500, "5.5.2", "Invalid character in command");
        continue;
      }
      if (this.#log.tracing) this.#log.trace(this.connection.id, "<", redactAuth(line, false));
      await this.#dispatch(line);
    }
  }

  async #dispatch(line: string): Promise<void> {
    const space = line.indexOf(" ");
    const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const argument = space === -1 ? "" : line.slice(space + 1).trim();
    const entry = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
    try {
      if (!entry) return await this.#unknown(verb, argument);
      if (!entry.states.includes(this.#state)) return this.#outOfSequence(verb, entry);
      await entry.handler(this, argument, verb);
    } catch (error) {
      if (error instanceof SmtpError) {
        this.send(error.reply);
        this.#countError();
        return;
      }
      throw error;
    }
  }

  #outOfSequence(verb: string, entry: Verb): void {
    const text = this.#state === "ready"
      ? "Send HELO/EHLO first"
      : this.#state === "bdat"
      ? "Finish the BDAT transfer first"
      : this.#transaction && ["MAIL", "SEND", "SOML", "SAML"].includes(verb)
      ? "Nested MAIL command"
      : entry.outOfSequence || "Bad sequence of commands";
    this.#error(503, "5.5.1", text);
  }

  async #unknown(verb: string, argument: string): Promise<void> {
    const decision = await this.#hook("unknown_command", { verb, argument });
    this.#answer(
      decision,
      reply(250, "2.0.0", "Ok"),
      () => this.#error(500, "5.5.1", "Command unrecognized"),
    );
    await this.#handOver(decision);
  }

  /**
   * Gives the connection to an accepted decision's `handover` once its reply
   * is out (RFC 2645 §4.2: after `250` to ATRN we are the SMTP client), then
   * ends the session: the connection now belongs to another protocol turn.
   */
  async #handOver(decision: Decision | undefined): Promise<void> {
    if (decision?.kind !== "accept" || !decision.handover) return;
    this.#to("closed");
    try {
      await this.#out.flush();
    } catch {
      // The client is gone; the handover still runs, finds the connection dead and cleans up.
    }
    this.#input.discard(); // the client must wait for our 250 before it speaks
    try {
      await decision.handover(this.#conn);
    } catch (error) {
      this.#log.event("handover_error", { conn: this.connection.id, error: String(error) });
    }
  }

  /** Sends a plugin's answer to a verb that plugins own, or `none()` if nobody answered. */
  #answer(decision: Decision | undefined, ok: Reply, none: () => void): void {
    if (!decision) none();
    else if (decision.kind === "accept") this.send(decision.reply ?? ok);
    else this.#refuse(decision);
  }

  async #resetTransaction(): Promise<void> {
    const had = this.#transaction !== undefined;
    this.#transaction = undefined;
    this.#chunks.clear();
    this.#input.endPhase();
    if (had) await this.#runner.notify("reset", this.#scope());
  }

  /** HELO and EHLO (RFC 5321 §4.1.1.1); both also reset any transaction. */
  async helo(verb: "HELO" | "EHLO", argument: string): Promise<void> {
    if (argument === "" || /\s/.test(argument)) {
      return this.#error(501, "5.5.2", `Syntax: ${verb} <hostname>`);
    }
    await this.#resetTransaction();
    const helo = { verb, name: argument };
    const decision = await this.#hook("helo", helo);
    if (decision && decision.kind !== "accept") {
      this.#refuse(decision);
      return;
    }
    this.connection.helo = helo;
    this.#esmtp = verb === "EHLO";
    this.#to("greeted");
    const greeting =
      `${this.#settings.hostname} Hello ${argument} [${this.connection.remote.address}]`;
    if (verb === "HELO") return this.send(reply(250, "", this.#settings.hostname));
    // EHLO keywords carry no enhanced code (RFC 2034 §3).
    this.send(reply(250, "", [
      greeting,
      ...ehloKeywords({
        maxMessageSize: this.#settings.maxMessageSize,
        starttls: offersStartTls(this.connection, this.#settings),
        // RFC 4954 §4 and our policy: passwords only ever travel encrypted.
        auth: this.connection.tls !== undefined && this.#settings.auth !== undefined &&
            this.connection.user === undefined
          ? offeredMechanisms(this.#runner.plugins)
          : undefined,
      }),
      ...pluginVerbs(this.#runner.plugins).flatMap(([, verb]) =>
        verb.ehlo && (verb.ehloWhen?.(this.connection) ?? true) ? [verb.ehlo] : []
      ),
    ]));
  }

  #rules(): EnvelopeRules {
    return { esmtp: this.#esmtp, ...this.#settings };
  }

  /** MAIL, and RFC 821's SEND, SOML and SAML, which open a transaction too. */
  async mail(mode: TransactionMode, argument: string): Promise<void> {
    if (this.#settings.requireAuth && this.connection.user === undefined) {
      return this.#error(530, "5.7.0", "Authentication required");
    }
    const { sender, params } = checkMail(mode, argument, this.#rules());
    this.#transaction = { id: this.#newQueueId(), mode, sender, params, recipients: [] };
    const decision = await this.#hook("mail", sender, params);
    if (!decision && mode !== "MAIL") {
      // SEND, SOML and SAML exist only when a plugin provides a terminal.
      this.#transaction = undefined;
      return this.#error(502, "5.5.1", `${mode} not implemented`);
    }
    if (decision && decision.kind !== "accept") {
      this.#transaction = undefined;
      this.#logReject("mail", decision, sender?.address ?? "<>");
      this.#refuse(decision);
      return;
    }
    this.#to("mail");
    this.send(decision?.reply ?? reply(250, "2.1.0", "Ok"));
  }

  /** RCPT (RFC 5321 §4.1.1.3). */
  async rcpt(argument: string): Promise<void> {
    const transaction = this.#transaction as Transaction;
    const recipient = checkRcpt(argument, transaction.params, this.#rules());
    if (transaction.recipients.length >= this.#settings.maxRecipients) {
      // Not counted as an error: the client is expected to send the rest later.
      return this.send(reply(452, "4.5.3", "Too many recipients"));
    }
    const local = this.#settings.isLocalDomain(recipient.mailbox.domain);
    const decision = await this.#hook("rcpt", recipient) ??
      (local
        ? reject(550, "5.1.1", "Recipient address rejected: User unknown")
        : reject(550, "5.7.1", "Relay access denied"));
    if (decision.kind !== "accept") {
      this.#logReject("rcpt", decision, recipient.mailbox.address);
      this.#refuse(decision);
      return;
    }
    transaction.recipients.push(recipient);
    this.#to("rcpt");
    this.send(decision.reply ?? reply(250, "2.1.5", "Ok"));
  }

  /** DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030 §2); see message_intake.ts. */
  message(verb: "DATA" | "BDAT", argument: string): Promise<void> {
    return (verb === "DATA" ? runData : runBdat)({
      connection: this.connection,
      transaction: this.#transaction,
      state: this.#state,
      esmtp: this.#esmtp,
      settings: this.#settings,
      log: this.#log,
      input: this.#input,
      chunks: this.#chunks,
      send: (r) => void this.send(r),
      error: (code, enhanced, text) => this.#error(code, enhanced, text),
      refuse: (decision) => void this.#refuse(decision),
      logReject: (stage, decision, subject) => this.#logReject(stage, decision, subject),
      hook: (hook, ...args) => this.#hook(hook, ...args),
      enterBdat: () => this.#to("bdat"),
      endTransaction: async () => {
        await this.#resetTransaction();
        if (this.#state !== "closed") this.#to("greeted");
      },
    }, argument);
  }

  #logReject(stage: string, decision: Decision, subject: string): void {
    this.#log.event("reject", {
      conn: this.connection.id,
      id: this.#transaction?.id,
      stage,
      subject,
      code: decision.reply?.code,
      enhanced: decision.reply?.enhanced,
    });
  }

  /** RSET (RFC 5321 §4.1.1.5). */
  async rset(argument: string): Promise<void> {
    if (argument !== "") return this.#error(501, "5.5.4", "RSET takes no arguments");
    await this.#resetTransaction();
    this.#to(this.connection.helo ? "greeted" : "ready");
    this.send(reply(250, "2.0.0", "Ok"));
  }

  /** QUIT (RFC 5321 §4.1.1.10). */
  quit(): Promise<void> {
    this.send(reply(221, "2.0.0", `${this.#settings.hostname} Bye`));
    this.#to("closed");
    return Promise.resolve();
  }

  /** HELP (RFC 5321 §4.1.1.8): the verbs usable here, or one verb's usage. */
  help(argument: string): Promise<void> {
    const added = pluginVerbs(this.#runner.plugins);
    return this.send(helpReply(
      argument,
      [...Object.keys(VERBS), ...added.map(([name]) => name)],
      (verb) => this.#available(verb),
      Object.fromEntries(added.map(([name, verb]) => [name, verb.help])),
    ));
  }

  /** Whether a verb does something in this server's configuration. */
  #available(verb: string): boolean {
    switch (verb) {
      case "EXPN":
        return this.#runner.has("expn");
      case "TURN":
        return this.#runner.has("turn");
      case "STARTTLS":
        return offersStartTls(this.connection, this.#settings);
      case "AUTH":
        return this.connection.tls !== undefined && this.#settings.auth !== undefined;
      case "SEND":
      case "SOML":
      case "SAML":
        return this.#runner.has("mail") && this.#runner.plugins.some((p) => p.name === "terminal");
      default:
        return Object.hasOwn(VERBS, verb) ||
          pluginVerbs(this.#runner.plugins).some(([name]) => name === verb);
    }
  }

  /** VRFY, EXPN and TURN: checked here, answered by plugins (see owned_verbs.ts). */
  async owned(verb: OwnedVerb, argument: string): Promise<void> {
    if (verb.takesArgument === (argument === "")) return this.#error(501, "5.5.4", verb.usage);
    const decision = verb.hook === "turn"
      ? await this.#hook("turn")
      : await this.#hook(verb.hook, argument);
    this.#answer(decision, verb.ok(argument), () => {
      this.send(verb.none);
      if (verb.noneIsError) this.#countError();
    });
    if (verb.handover) await this.#handOver(decision);
  }

  /** STARTTLS (RFC 3207); see starttls.ts. */
  starttls(argument: string): Promise<void> {
    return runStartTls({
      connection: this.connection,
      conn: this.#conn,
      settings: this.#settings,
      log: this.#log,
      input: this.#input,
      output: this.#out,
      error: (code, enhanced, text) => this.#error(code, enhanced, text),
      restart: async (secure) => {
        this.#conn = secure;
        // RFC 3207 §4.2: forget everything learnt before, the client must EHLO again.
        await this.#resetTransaction();
        this.connection.helo = undefined;
        this.#esmtp = false;
        this.#to("ready");
      },
    }, argument);
  }

  /** AUTH (RFC 4954) with PLAIN or LOGIN, over TLS only. */
  async auth(argument: string): Promise<void> {
    await runAuth({
      connection: this.connection,
      backend: this.#settings.auth,
      hostname: this.#settings.hostname,
      log: this.#log,
      plugins: this.#runner.plugins,
      io: {
        send: (r) => void this.send(r),
        readLine: async () => {
          const line = await this.#input.readLine(MAX_AUTH_LINE);
          if (this.#log.tracing && line) this.#log.trace(this.connection.id, "<", "****");
          return line === null ? null : line.tooLong ? "" : new TextDecoder().decode(line.line);
        },
      },
      send: (r) => void this.send(r),
      error: (code, enhanced, text) => this.#error(code, enhanced, text),
      closeWith: (r) => {
        this.send(r);
        this.#to("closed");
      },
      hook: (credentials) => this.#hook("auth", credentials),
    }, argument);
  }

  async #close(): Promise<void> {
    this.#to("closed");
    try {
      await this.#out.flush();
    } catch {
      // the client is gone; nothing left to tell it
    }
    this.#conn.close();
    await this.#runner.notify("disconnect", this.#scope());
  }
}
