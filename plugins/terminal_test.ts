import assert from "node:assert/strict";
import { test } from "node:test";
import type { Decision } from "../core/hooks/decision.ts";
import { DECISIONS, type DirectoryView, type PluginHost } from "../core/hooks/host.ts";
import type {
  HookContext,
  Plugin,
  Recipient,
  Transaction,
  TransactionMode,
} from "../core/hooks/plugin.ts";
import { parseMailbox } from "../core/smtp/address.ts";
import { Message } from "../core/smtp/message.ts";
import { TerminalHub } from "../core/terminal/hub.ts";
import { terminal, terminalFromHost, type TerminalOptions, terminalText } from "./terminal.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** alice and bob are users; team is an alias of both; fwd forwards away. */
const directory: DirectoryView = {
  resolve(address) {
    const users = ["alice@example.org", "bob@example.org"];
    if (users.includes(address)) return { mailboxes: [address], remote: [], unknown: [] };
    if (address === "team@example.org") return { mailboxes: users, remote: [], unknown: [] };
    if (address === "fwd@example.org") {
      return { mailboxes: [], remote: ["x@far.example"], unknown: [] };
    }
    return undefined;
  },
  isUser: (address) => address === "alice@example.org" || address === "bob@example.org",
};

function recipient(address: string): Recipient {
  return { mailbox: parseMailbox(address) ?? assert.fail(address), params: {} } as Recipient;
}

function context(mode: TransactionMode, recipients: string[] = [], user?: string) {
  const transaction: Transaction = {
    id: "Q1",
    mode,
    sender: parseMailbox("carol@example.org") ?? null,
    params: {} as Transaction["params"],
    recipients: recipients.map(recipient),
  };
  const ctx: HookContext = {
    connection: {
      id: "c1",
      remote: { address: "192.0.2.1", port: 1 },
      local: { address: "127.0.0.1", port: 25 },
      helo: undefined,
      tls: undefined,
      user,
    },
    transaction,
    state: undefined,
    log: { info() {}, warn() {} },
  } as HookContext;
  return { ctx, transaction };
}

function setup(options: Partial<TerminalOptions> = {}) {
  const hub = new TerminalHub();
  const seen: string[] = [];
  const watch = (address: string) =>
    hub.open(address, (m) => seen.push(`${address} <- ${m.from}: ${m.text}`));
  const plugin = terminal({
    hub,
    directory,
    isLocalDomain: (d) => d === "example.org",
    ...options,
  });
  return { plugin, seen, watch };
}

function call<K extends "mail" | "rcpt" | "queue">(
  plugin: Plugin,
  hook: K,
  ...args: Parameters<NonNullable<Plugin[K]>>
): Decision | undefined {
  const fn = plugin[hook] as (...a: unknown[]) => Decision | undefined;
  return fn.call(plugin, ...args) ?? undefined;
}

const codeOf = (d: Decision | undefined) =>
  d === undefined
    ? undefined
    : `${d.kind} ${d.reply?.code ?? ""} ${d.reply?.enhanced ?? ""}`.trim();

const body = Message.parse(encode("Subject: hi\r\n\r\nlunch?\r\n"));

test("terminalText() decodes UTF-8, strips control characters and caps the size", () => {
  assert.equal(
    terminalText(encode("h\u00e9\x1b[31m\x07\r\n\tx\x9b\r\n\r\n"), 100),
    "h\u00e9[31m\n\tx",
  );
  assert.equal(terminalText(encode("abc\u00e9"), 4), "abc\n[truncated]");
  assert.equal(terminalText(new Uint8Array([0x61, 0xff]), 100), "a\uFFFD");
});

test("terminal() mail accepts SEND, SOML and SAML and leaves MAIL to the chain", () => {
  const { plugin } = setup({ spoolFull: () => false });
  for (const mode of ["SEND", "SOML", "SAML"] as const) {
    assert.equal(codeOf(call(plugin, "mail", context(mode).ctx, null, {} as never)), "accept");
  }
  assert.equal(call(plugin, "mail", context("MAIL").ctx, null, {} as never), undefined);
});

test("terminal() mail applies sender_login and the full spool like MAIL would", () => {
  const { plugin } = setup({ spoolFull: () => true });
  const sender = parseMailbox("carol@example.org") ?? null;
  const { ctx } = context("SEND", [], "alice@example.org");
  assert.equal(codeOf(call(plugin, "mail", ctx, sender, {} as never)), "reject 553 5.7.1");
  assert.equal(codeOf(call(plugin, "mail", context("SEND").ctx, sender, {} as never)), "accept");
  assert.equal(
    codeOf(call(plugin, "mail", context("SOML").ctx, sender, {} as never)),
    "tempfail 452 4.3.1",
  );
  const lax = setup({ senderLoginCheck: false }).plugin;
  assert.equal(codeOf(call(lax, "mail", ctx, sender, {} as never)), "accept");
});

test("terminal() rcpt for SEND: 250 with a terminal, 450 4.2.1 without, 550 otherwise", () => {
  const { plugin, watch } = setup();
  watch("alice@example.org");
  const rcpt = (address: string, mode: TransactionMode = "SEND") =>
    codeOf(call(plugin, "rcpt", context(mode).ctx, recipient(address)));
  assert.equal(rcpt("alice@example.org"), "accept");
  assert.equal(rcpt("team@example.org"), "accept", "an alias with one watcher");
  assert.equal(rcpt("bob@example.org"), "tempfail 450 4.2.1");
  assert.equal(rcpt("nobody@example.org"), "reject 550 5.1.1");
  assert.equal(rcpt("fwd@example.org"), "reject 550 5.1.1");
  assert.equal(rcpt("x@far.example"), "reject 550 5.7.1");
  assert.equal(rcpt("bob@example.org", "SOML"), undefined, "SOML recipients: the usual rules");
  assert.equal(rcpt("bob@example.org", "MAIL"), undefined);
});

test("terminal() queue for SEND shows the body on terminals and does not spool", () => {
  const { plugin, seen, watch } = setup();
  watch("alice@example.org");
  watch("alice@example.org");
  const { ctx } = context("SEND", ["alice@example.org", "team@example.org"]);
  assert.equal(codeOf(call(plugin, "queue", ctx, body)), "accept 250 2.0.0");
  assert.deepEqual(seen, [
    "alice@example.org <- carol@example.org: lunch?",
    "alice@example.org <- carol@example.org: lunch?",
  ]);
  const gone = setup().plugin;
  assert.equal(codeOf(call(gone, "queue", ctx, body)), "tempfail 450 4.2.1");
});

test("terminal() queue for SOML keeps only recipients without a terminal for the spool", () => {
  const { plugin, seen, watch } = setup();
  watch("alice@example.org");
  const { ctx, transaction } = context("SOML", [
    "alice@example.org",
    "bob@example.org",
    "team@example.org",
    "x@far.example",
  ]);
  assert.equal(call(plugin, "queue", ctx, body), undefined, "the spool takes the rest");
  assert.deepEqual(seen, ["alice@example.org <- carol@example.org: lunch?"]);
  assert.deepEqual(
    transaction.recipients.map((r) => r.mailbox.address),
    ["bob@example.org", "team@example.org", "x@far.example"],
  );
  const all = context("SOML", ["alice@example.org"]);
  assert.equal(codeOf(call(plugin, "queue", all.ctx, body)), "accept 250 2.0.0");
  assert.equal(all.transaction.recipients.length, 0);
});

test("terminal() queue for SAML shows on terminals and leaves every recipient to the spool", () => {
  const { plugin, seen, watch } = setup();
  watch("bob@example.org");
  const { ctx, transaction } = context("SAML", ["alice@example.org", "team@example.org"]);
  assert.equal(call(plugin, "queue", ctx, body), undefined);
  assert.deepEqual(seen, ["bob@example.org <- carol@example.org: lunch?"]);
  assert.equal(transaction.recipients.length, 2);
  assert.equal(call(plugin, "queue", context("MAIL", ["bob@example.org"]).ctx, body), undefined);
});

test("terminalFromHost() reads max_text_bytes and needs a hub", () => {
  const host = (options: Record<string, unknown>) =>
    ({ ...DECISIONS, options, directory, isLocalDomain: () => true }) as unknown as PluginHost;
  const deps = { terminals: new TerminalHub(), spool: { spool: { count: () => 0 }, maxQueued: 1 } };
  assert.equal(terminalFromHost(host({ max_text_bytes: 100 }), deps).name, "terminal");
  assert.throws(() => terminalFromHost(host({ nope: 1 }), deps), /unknown option "nope"/);
  assert.throws(() => terminalFromHost(host({ max_text_bytes: 0 }), deps), /positive integer/);
  assert.throws(() => terminalFromHost(host({}), { spool: deps.spool }), /no terminal hub/);
});
